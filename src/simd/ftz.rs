//! Flush-to-zero / denormals-are-zero, scoped to a call.
//!
//! Denormal operands make x86 cores fall back to microcode (20x–200x slower operations, the
//! cliff users of oneDNN and PyTorch report). Every kernel runs under a [`FlushDenormals`]
//! guard: it sets MXCSR's FTZ and DAZ bits on the thread running the kernel and restores the
//! caller's MXCSR when dropped, so nothing leaks to the caller's own floating-point code.
//! Consequence: denormal inputs, weights and intermediates count as zero inside fusedrnn.

/// MXCSR bits: flush-to-zero (15) and denormals-are-zero (6).
#[cfg(target_arch = "x86_64")]
const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

/// Sets FTZ and DAZ on this thread until dropped.
pub(crate) struct FlushDenormals {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

impl FlushDenormals {
    /// Saves this thread's MXCSR and sets FTZ and DAZ.
    #[inline]
    pub(crate) fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let mut saved = 0u32;
            // SAFETY: `stmxcsr` stores the 32-bit MXCSR to a valid, aligned local; `ldmxcsr`
            // loads a value that only adds the FTZ and DAZ bits (SSE2 is baseline on x86-64,
            // and both bits exist on every x86-64 CPU).
            unsafe {
                std::arch::asm!("stmxcsr [{}]", in(reg) &mut saved, options(nostack, preserves_flags));
                let set = saved | FTZ_DAZ;
                std::arch::asm!("ldmxcsr [{}]", in(reg) &set, options(nostack, preserves_flags, readonly));
            }
            Self { saved }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Self {}
    }
}

impl Drop for FlushDenormals {
    #[inline]
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: restores the value saved by `new` on this same thread.
        unsafe {
            std::arch::asm!("ldmxcsr [{}]", in(reg) &self.saved, options(nostack, preserves_flags, readonly));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushes_inside_and_restores_after() {
        let tiny = std::hint::black_box(1e-39f32);
        assert!(
            tiny * std::hint::black_box(1.0) != 0.0,
            "denormals work outside the guard"
        );
        {
            let _g = FlushDenormals::new();
            let r = std::hint::black_box(tiny) * std::hint::black_box(1.0f32);
            #[cfg(target_arch = "x86_64")]
            assert_eq!(r, 0.0, "DAZ/FTZ not in effect");
            let _ = r;
        }
        assert!(
            std::hint::black_box(tiny) * std::hint::black_box(1.0f32) != 0.0,
            "MXCSR not restored"
        );
    }
}
