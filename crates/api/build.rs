// The web UI's files are embedded at compile time: rebuild when one of them changes.
fn main() {
    println!("cargo:rerun-if-changed=../../web");
}
