fn main() {
    // The migrations are embedded with include_dir!, which cargo cannot see:
    // rebuild when any file under migrations/ changes.
    println!("cargo:rerun-if-changed=migrations");
}
