//! Generates the Ballast protobuf types with a vendored `protoc`, so a build needs no system
//! protobuf compiler.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY-free: build scripts are single threaded; prost-build reads PROTOC from the env.
    std::env::set_var("PROTOC", protoc);

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // Every .proto under proto/ (ballast.* packages and the cosmos.* wire types Ballast serves).
    let mut files = Vec::new();
    for top in ["ballast", "cosmos"] {
        let dir = root.join(top);
        if dir.is_dir() {
            collect_protos(&dir, &mut files)?;
        }
    }
    files.sort();
    // The directories, so that a new .proto file also triggers a rebuild (cargo scans a
    // directory's whole tree for changes).
    for top in ["ballast", "cosmos"] {
        println!("cargo:rerun-if-changed={}", root.join(top).display());
    }
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }

    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_build::configure()
        .build_client(true)
        .build_server(true)
        // One module tree for every package, so a new .proto needs no edit in lib.rs.
        .include_file("_includes.rs")
        // Descriptors for gRPC server reflection.
        .file_descriptor_set_path(out.join("ballast_descriptor.bin"))
        .compile_protos(&files, &[root])?;
    Ok(())
}

fn collect_protos(dir: &PathBuf, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}
