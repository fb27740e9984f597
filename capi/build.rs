//! Writes `qnet.pc` (pkg-config) next to the built library, `<target>/<profile>/qnet.pc`,
//! pointing at this crate's `include/` and that directory, so the documented compile line
//! `cc prog.c $(pkg-config --cflags --libs qnet)` works from a fresh clone after
//! `cargo build -p qnet-capi` with `PKG_CONFIG_PATH=<target>/<profile>`.
//!
//! And the installed one, `<target>/<profile>/dist/qnet.pc`, which the packages ship in
//! `/usr/lib/pkgconfig`: every path from `prefix` (`/usr`), so the tree can be moved
//! (`pkg-config --define-prefix`, or `--define-variable=prefix=DIR`).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/qnet-capi-<hash>/out.
    let Some(libdir) = out.ancestors().nth(3) else {
        return;
    };
    let include = manifest.join("include");
    let pc = format!(
        "# pkg-config file for libqnetc, the QNX C API over qnet (written by capi/build.rs)\n\
         includedir={}\n\
         libdir={}\n\
         \n\
         Name: qnet\n\
         Description: QNX Neutrino message passing (sys/neutrino.h, sys/dispatch.h) on Linux via qnetd\n\
         Version: {}\n\
         Cflags: -I${{includedir}}\n\
         Libs: -L${{libdir}} -Wl,-rpath,${{libdir}} -lqnetc\n\
         Libs.private: -lpthread -ldl -lm -lgcc_s -lc\n",
        include.display(),
        libdir.display(),
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default()
    );
    write_if_changed(&libdir.join("qnet.pc"), &pc);
    let installed = format!(
        "# pkg-config file for libqnetc, the QNX C API over qnet (installed; prefix-based)\n\
         prefix=/usr\n\
         libdir=${{prefix}}/lib\n\
         includedir=${{prefix}}/include/qnet\n\
         \n\
         Name: qnet\n\
         Description: QNX Neutrino message passing (sys/neutrino.h, sys/dispatch.h) on Linux via qnetd\n\
         Version: {}\n\
         Cflags: -I${{includedir}}\n\
         Libs: -L${{libdir}} -lqnetc\n\
         Libs.private: -lpthread -ldl -lm -lgcc_s -lc\n",
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default()
    );
    let _ = std::fs::create_dir_all(libdir.join("dist"));
    write_if_changed(&libdir.join("dist").join("qnet.pc"), &installed);
}

fn write_if_changed(path: &std::path::Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        let _ = std::fs::write(path, text);
    }
}
