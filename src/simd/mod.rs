//! SIMD vectors, the gate nonlinearities written once over them, and run-time ISA dispatch.
//!
//! [`Vf32`] is an 8-lane `f32` vector. Three types implement it: `avx2::Avx512` (`std::arch`;
//! the GEMM register tile on 512-bit registers, the element-wise code on 256-bit ones with
//! AVX-512VL's 32 registers), `avx2::Avx2` (`std::arch` AVX2 + FMA), both chosen at run time,
//! and `portable::Wide` (`wide::f32x8`, whose instructions are fixed when the crate is
//! compiled; SSE2 on a default x86-64 build). Kernels are generic `#[inline(always)]` functions
//! over `V: Vf32`; [`isa_dispatch!`] instantiates each through a thin `#[target_feature]`
//! wrapper and picks one with [`isa`].
//!
//! The ISA is detected once. `FUSEDRNN_ISA=portable|avx2|avx512` forces one (tests run every
//! variant); asking for one the CPU lacks falls back to the best available, with a warning on
//! stderr. Every ISA computes each output element with the same operations in the same order
//! (one fused multiply-add chain over `k` in the tiles), so AVX2 and AVX-512 results are
//! bitwise identical; the portable path differs where `wide` lacks FMA.

pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
pub(crate) mod ftz;
pub(crate) mod math;
pub(crate) mod pair;
pub(crate) mod portable;
pub(crate) mod probe;
#[cfg(target_arch = "x86_64")]
pub(crate) mod zmm;

use std::sync::OnceLock;

/// The instruction sets kernels are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// `wide` vectors with the compile-time target features.
    Portable,
    /// AVX2 and FMA, detected at run time.
    Avx2,
    /// AVX-512F and AVX-512VL (with AVX2 and FMA), detected at run time.
    Avx512,
}

impl Isa {
    /// Whether this CPU can run kernels of this ISA.
    pub fn available(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.available()
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 | Isa::Avx512 => false,
        }
    }

    /// Its name as `FUSEDRNN_ISA` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }
}

/// The ISA every kernel uses: the best the CPU has, or the one `FUSEDRNN_ISA` names.
pub fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let best = [Isa::Avx512, Isa::Avx2]
            .into_iter()
            .find(|i| i.available())
            .unwrap_or(Isa::Portable);
        match std::env::var("FUSEDRNN_ISA").ok().as_deref() {
            None | Some("") => best,
            Some("portable") => Isa::Portable,
            Some("avx2") if Isa::Avx2.available() => Isa::Avx2,
            Some("avx512") if Isa::Avx512.available() => Isa::Avx512,
            Some(other) => {
                eprintln!(
                    "fusedrnn: FUSEDRNN_ISA={other} is not available here; using {}",
                    best.name()
                );
                best
            }
        }
    })
}

/// An `f32` vector of [`Vf32::LANES`] lanes: 8 for the vector of each ISA, 16 for its
/// [`Widen::Wide`]. Masks are vectors whose lanes are all-ones or all-zeros.
///
/// Implementations for an ISA the CPU lacks must only run inside functions compiled for that
/// ISA and reached after detection (see [`isa_dispatch!`]).
pub(crate) trait Vf32:
    Copy
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
{
    /// Whether [`Vf32::tile`] runs on 512-bit registers (32 of them): callers then give it
    /// taller tiles (see `gemm::tile::tile_rows!`).
    const ZMM_TILE: bool = false;
    /// Lanes (`L` below).
    const LANES: usize = 8;

    fn splat(v: f32) -> Self;
    /// Loads `L` elements. `s.len() >= L` (checked).
    fn load(s: &[f32]) -> Self;
    /// Stores `L` elements. `d.len() >= L` (checked).
    fn store(self, d: &mut [f32]);
    /// Loads `L` elements from `p`.
    ///
    /// # Safety
    /// `p..p+L` must be readable.
    unsafe fn load_ptr(p: *const f32) -> Self;
    /// A hint to bring the cache line of `p` into L1; `p` may point anywhere (it is never
    /// dereferenced and never faults). No-op where the ISA has no prefetch.
    #[inline(always)]
    fn prefetch(_p: *const f32) {}
    /// The 8 x 8 transpose: lane `c` of output `r` is lane `r` of input `c` (8-lane types only;
    /// checked). This default goes through memory.
    #[inline(always)]
    fn transpose8(v: [Self; 8]) -> [Self; 8] {
        assert_eq!(Self::LANES, 8);
        let mut m = [[0.0f32; 8]; 8];
        for (row, x) in m.iter_mut().zip(v) {
            x.store(row);
        }
        std::array::from_fn(|c| Self::load(&std::array::from_fn::<f32, 8, _>(|r| m[r][c])))
    }
    /// Stores `L` elements at `p`.
    ///
    /// # Safety
    /// `p..p+L` must be writable and not aliased by a live reference.
    unsafe fn store_ptr(self, p: *mut f32);
    fn vadd(self, o: Self) -> Self;
    fn vsub(self, o: Self) -> Self;
    fn vmul(self, o: Self) -> Self;
    fn vdiv(self, o: Self) -> Self;
    /// `self * b + c`, fused where the ISA has FMA.
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// Lane-wise maximum (for NaN lanes either operand; callers fix NaN up with `select`).
    fn max(self, o: Self) -> Self;
    fn min(self, o: Self) -> Self;
    /// Round to nearest (ties to even).
    fn round(self) -> Self;
    /// `2^n` for integral `n` in `[-126, 127]`.
    fn pow2i(n: Self) -> Self;
    fn abs(self) -> Self;
    /// Magnitude of `self`, sign of `sign`.
    fn copysign(self, sign: Self) -> Self;
    /// Mask of `self < o` (false for NaN).
    fn lt(self, o: Self) -> Self;
    /// Mask of `self > o` (false for NaN).
    fn gt(self, o: Self) -> Self;
    /// Mask of NaN lanes.
    fn is_nan(self) -> Self;
    /// `mask ? a : b` lane-wise.
    fn select(mask: Self, a: Self, b: Self) -> Self;

    /// The GEMM register tile (see `gemm::tile::tile`; `AT`: `gemm::tile::tile_at`), as this
    /// ISA compiles it.
    #[inline(always)]
    fn tile<const MR: usize, const G: usize, const AT: bool>(
        k: usize,
        a: &[f32],
        lda: usize,
        panel: &[f32],
    ) -> [[Self; G]; MR] {
        crate::gemm::tile::tile_body::<Self, MR, G, AT>(k, a, lda, panel)
    }

    /// Loads `min(L, s.len())` elements; missing lanes are 0.
    #[inline(always)]
    fn load_part(s: &[f32]) -> Self {
        if s.len() >= Self::LANES {
            Self::load(s)
        } else {
            let mut a = [0.0f32; 16];
            a[..s.len()].copy_from_slice(s);
            Self::load(&a)
        }
    }

    /// Stores the first `min(L, d.len())` lanes.
    #[inline(always)]
    fn store_part(self, d: &mut [f32]) {
        if d.len() >= Self::LANES {
            self.store(d)
        } else {
            let mut a = [0.0f32; 16];
            self.store(&mut a);
            let n = d.len();
            d.copy_from_slice(&a[..n]);
        }
    }
}

/// An ISA's vector and the 16-lane vector that holds two of them side by side: one 512-bit
/// register ([`zmm::Z16`]) on AVX-512, a [`pair::Pair`] elsewhere. The element-wise code of
/// a tile whose output holds two 8-unit runs of one gate next to each other runs on it: half
/// the instructions on AVX-512, the same results.
pub(crate) trait Widen: Vf32 {
    type Wide: Vf32;
    /// `lo`'s lanes, then `hi`'s.
    fn widen(lo: Self, hi: Self) -> Self::Wide;
}

/// Defines `fn $name(args)` that runs `$generic::<V>(args)` with `V` the [`isa`]'s vector type,
/// the AVX2 instance compiled with `#[target_feature(enable = "avx2,fma")]`, the AVX-512 one
/// with `avx512f,avx512vl` added.
macro_rules! isa_dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident => $generic:ident $(<$($c:tt),*>)? ( $($arg:ident : $ty:ty),* $(,)? ) $(-> $ret:ty)?) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                $generic::<$crate::simd::avx2::Avx2 $($(, $c)*)?>($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                $generic::<$crate::simd::avx2::Avx512 $($(, $c)*)?>($($arg),*)
            }
            match $crate::simd::isa() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `isa()` returns `Avx512` only when the CPU has AVX-512F/VL, AVX2, FMA.
                $crate::simd::Isa::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `isa()` returns `Avx2` only when the CPU has AVX2 and FMA.
                $crate::simd::Isa::Avx2 => unsafe { avx2($($arg),*) },
                _ => $generic::<$crate::simd::portable::Wide $($(, $c)*)?>($($arg),*),
            }
        }
    };
}
pub(crate) use isa_dispatch;

#[cfg(test)]
/// Runs `check::<V>()` for every ISA this CPU has, saying loudly which it skips.
macro_rules! every_isa {
    ($check:ident) => {{
        $check::<$crate::simd::portable::Wide>("portable");
        if $crate::simd::Isa::Avx2.available() {
            // SAFETY: AVX2 and FMA were detected just above.
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2() {
                $check::<$crate::simd::avx2::Avx2>("avx2")
            }
            unsafe { avx2() }
        } else {
            eprintln!("SKIPPED: avx2 variant of {} (CPU lacks AVX2/FMA)", stringify!($check));
        }
        if $crate::simd::Isa::Avx512.available() {
            // SAFETY: AVX-512F/VL, AVX2 and FMA were detected just above.
            #[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
            unsafe fn avx512() {
                $check::<$crate::simd::avx2::Avx512>("avx512")
            }
            unsafe { avx512() }
        } else {
            eprintln!(
                "SKIPPED: avx512 variant of {} (CPU lacks AVX-512F/VL)",
                stringify!($check)
            );
        }
    }};
}
#[cfg(test)]
pub(crate) use every_isa;

/// Implements the arithmetic operators of a [`Vf32`] type through its methods.
macro_rules! vf32_ops {
    (generic $t:ident) => {
        impl<const Z: bool> std::ops::Add for $t<Z> {
            type Output = Self;
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                $crate::simd::Vf32::vadd(self, o)
            }
        }
        impl<const Z: bool> std::ops::Sub for $t<Z> {
            type Output = Self;
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                $crate::simd::Vf32::vsub(self, o)
            }
        }
        impl<const Z: bool> std::ops::Mul for $t<Z> {
            type Output = Self;
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                $crate::simd::Vf32::vmul(self, o)
            }
        }
        impl<const Z: bool> std::ops::Div for $t<Z> {
            type Output = Self;
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                $crate::simd::Vf32::vdiv(self, o)
            }
        }
        impl<const Z: bool> std::ops::Neg for $t<Z> {
            type Output = Self;
            #[inline(always)]
            fn neg(self) -> Self {
                $crate::simd::Vf32::vsub(<Self as $crate::simd::Vf32>::splat(0.0), self)
            }
        }
    };
    ($t:ty) => {
        impl std::ops::Add for $t {
            type Output = Self;
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                $crate::simd::Vf32::vadd(self, o)
            }
        }
        impl std::ops::Sub for $t {
            type Output = Self;
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                $crate::simd::Vf32::vsub(self, o)
            }
        }
        impl std::ops::Mul for $t {
            type Output = Self;
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                $crate::simd::Vf32::vmul(self, o)
            }
        }
        impl std::ops::Div for $t {
            type Output = Self;
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                $crate::simd::Vf32::vdiv(self, o)
            }
        }
        impl std::ops::Neg for $t {
            type Output = Self;
            #[inline(always)]
            fn neg(self) -> Self {
                $crate::simd::Vf32::vsub(<$t as $crate::simd::Vf32>::splat(0.0), self)
            }
        }
    };
}
pub(crate) use vf32_ops;
