//! The `nook` binary: argv to the CLI, errors to an exit code. Errors are
//! logged here and nowhere else.

mod cli;

use nook::logging;

fn main() {
    let code = match cli::main(std::env::args().collect()) {
        Ok(code) => code,
        Err(err) => {
            let msg = format!("{err:#}");
            logging::log("error", &msg);
            // With --log the line went to the file; callers still read stderr.
            if logging::has_file() {
                eprintln!("{msg}");
            }
            // runc's exec exits 255 on its own errors.
            if err.is::<cli::exec::Failed>() {
                255
            } else {
                1
            }
        }
    };
    std::process::exit(code);
}
