//! Embeds the tiny reasoner (`models/assets/tiny-reasoner`) into the `ponder` binary
//! when its files are present, so `ponder serve` with no MODEL needs no download.

use std::path::PathBuf;

/// The files of the embedded default model.
const FILES: [&str; 5] = ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"];

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../models/assets/tiny-reasoner");
    println!("cargo::rustc-check-cfg=cfg(ponder_embedded_model)");
    println!("cargo::rerun-if-changed={}", dir.display());
    for file in FILES {
        println!("cargo::rerun-if-changed={}", dir.join(file).display());
    }
    if FILES.iter().all(|f| dir.join(f).is_file()) {
        println!("cargo::rustc-cfg=ponder_embedded_model");
    } else {
        println!("cargo::warning=models/assets/tiny-reasoner is incomplete: this ponder has no embedded default model");
    }
}
