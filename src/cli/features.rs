//! `nook features`: print the features document.

use anyhow::Result;

pub fn run() -> Result<()> {
    let doc = serde_json::to_string_pretty(&nook::features::features())?;
    println!("{doc}");
    Ok(())
}
