//! Ctrl-C: the journal's last line stays whole, the terminal gets its echo back, the holder is
//! told where the ceremony stands, and the tool exits with code 130.
//!
//! Without a handler SIGINT kills the process where it is: under a hidden prompt the terminal
//! would be left with echo off, and a journal line could be cut. The handler runs on a thread
//! of its own (the `ctrlc` crate), or on the main thread when the hidden prompt read the Ctrl-C
//! itself: it takes the journal's lock (so no line is half written and none follows), writes an
//! `interrupted` line describing the last one, puts back the terminal settings saved at the
//! start, and exits. Nothing is sent to the server: a share whose answer was awaited stays
//! `share-sent` in the journal, and the next run reads the progress before anything else is
//! sent and says whether it counted.

use crate::fail;
use crate::journal;

/// Saves the terminal's settings and installs the handler. A failure to install it is reported
/// and the tool goes on: Ctrl-C then ends it the default way.
pub fn install() {
    terminal::save();
    if let Err(e) = ctrlc::set_handler(|| stop()) {
        eprintln!(
            "warning: no Ctrl-C handler ({e}): Ctrl-C under a hidden prompt may leave the \
             terminal's echo off (`stty echo` puts it back)"
        );
    }
}

/// Ends the tool after a Ctrl-C. When the handler thread and the hidden prompt both see the
/// same Ctrl-C, the first one here exits and the other waits on the journal's lock.
pub fn stop() -> ! {
    let said = journal::interrupted();
    terminal::restore();
    eprintln!("\nInterrupted. {said}");
    std::process::exit(i32::from(fail::INTERRUPTED));
}

#[cfg(unix)]
pub mod terminal {
    //! The controlling terminal's settings: saved at the start, put back on Ctrl-C; and echo
    //! turned off before a hidden prompt is shown.

    use std::fs::File;
    use std::sync::Mutex;

    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg, Termios};

    static SAVED: Mutex<Option<(File, Termios)>> = Mutex::new(None);

    fn open() -> Option<File> {
        File::options().read(true).write(true).open("/dev/tty").ok()
    }

    /// Saves the settings of the controlling terminal, if there is one.
    pub fn save() {
        let saved = open().and_then(|tty| tcgetattr(&tty).ok().map(|settings| (tty, settings)));
        *SAVED.lock().unwrap_or_else(|p| p.into_inner()) = saved;
    }

    /// Puts the saved settings back.
    pub fn restore() {
        if let Some((tty, settings)) = &*SAVED.lock().unwrap_or_else(|p| p.into_inner()) {
            let _ = tcsetattr(tty, SetArg::TCSANOW, settings);
        }
    }

    /// Runs `read` with the terminal's echo off, put back after: a prompt shown inside comes
    /// only once what is typed is hidden.
    pub fn without_echo<T>(read: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
        let tty = open().ok_or_else(|| std::io::Error::other("no terminal (/dev/tty)"))?;
        let before = tcgetattr(&tty)?;
        let mut quiet = before.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(&tty, SetArg::TCSANOW, &quiet)?;
        let result = read();
        let _ = tcsetattr(&tty, SetArg::TCSANOW, &before);
        result
    }
}

#[cfg(not(unix))]
pub mod terminal {
    //! The console mode is kept and put back by rpassword itself on Windows.

    pub fn save() {}

    pub fn restore() {}

    pub fn without_echo<T>(read: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
        read()
    }
}
