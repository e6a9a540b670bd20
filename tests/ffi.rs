#[test]
fn probe() {
    println!("{:?} {:?}", std::env::current_exe(), std::env::var("CARGO"));
    println!("{}", env!("FUSEDRNN_GENERATED_HEADER"));
}
