fn main() {
    eprintln!("faultline-demo: not built yet");
    std::process::exit(3);
}
