//! Which tool is running: the one type every other module names (a leaf: imports nothing of
//! the crate). Its `--help` text is [`Tool::usage`], written in `args::help` from the option
//! table.

/// Which tool is being parsed or run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    /// `mqpub`.
    Pub,
    /// `mqsub`.
    Sub,
}

impl Tool {
    /// Both tools, publisher first.
    pub const ALL: [Self; 2] = [Self::Pub, Self::Sub];

    /// The program name, also the name of the options file.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pub => "mqpub",
            Self::Sub => "mqsub",
        }
    }

    /// The line printed by `--version`.
    pub fn version(self) -> String {
        format!(
            "{} version {} running on mqtt-proto {}.\n",
            self.name(),
            env!("CARGO_PKG_VERSION"),
            env!("CARGO_PKG_VERSION")
        )
    }
}
