//! `nook state`.

use std::path::Path;

use anyhow::Result;
use nook::container::lifecycle;

pub fn run(root: &Path, id: &str) -> Result<()> {
    let v = lifecycle::state(root, id)?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}
