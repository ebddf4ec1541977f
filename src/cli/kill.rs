//! `nook kill`.

use std::path::Path;

use anyhow::Result;
use nook::container::lifecycle;

pub fn run(root: &Path, id: &str, signal: &str, all: bool) -> Result<()> {
    let sig = nook::signals::parse(signal)?;
    lifecycle::kill(root, id, sig, all)
}
