//! The `vx86` command line.

fn main() {
    eprintln!("vx86: nothing here yet");
    std::process::exit(2);
}
