//! The `--help` texts (**D13**: printed on stdout with exit status 0; **D16**: every option is
//! listed, whatever the build supports; the default client id line is correct).
//!
//! The synopsis at the top is written here; the option lines below it are made from the
//! option table (`args::defs`), in its order: the tool's own options, then the common ones,
//! each as ` -x : text` with the text's later lines indented under its first.

use super::defs;
use super::flag::For;
use crate::tool::Tool;

/// The synopsis of mqpub, before its option lines.
const PUB_SYNOPSIS: &str = "\
mqpub is a simple mqtt client that will publish a message on a single topic and exit.
mqpub version {version}.

Usage: mqpub {[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL}
             {-f file | -l | -n | -m message | -s}
             [-c] [-k keepalive] [-q qos] [-r] [--repeat N] [--repeat-delay time] [-x session-expiry]
             [-A bind_address] [--nodelay] [--ws]
             [-i id] [-I id_prefix]
             [-d] [--quiet] [--strict-exit]
             [-M max_inflight] [--topic-aliases]
";

/// The synopsis of mqsub, before its option lines.
const SUB_SYNOPSIS: &str = "\
mqsub is a simple mqtt client that will subscribe to a set of topics and print all messages it receives.
mqsub version {version}.

Usage: mqsub {[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL [-t topic]}
             [-c] [-k keepalive] [-q qos] [-x session-expiry-interval]
             [-C msg_count] [-E] [-R] [--retained-only] [--remove-retained] [-T filter_out] [-U topic ...]
             [-F format] [-N] [--pretty] [--json] [--json-props] [-v] [-W timeout]
             [--color auto|always|never] [--payload-format raw|hex|base64|text]
             [--output file | --output-dir dir] [--message-rate] [-w]
             [--random-filter chance] [--retain-as-published] [--retain-handling always|new|never]
             [--no-reconnect | --reconnect-max N]
             [-A bind_address] [--nodelay] [--ws]
             [-i id] [-I id_prefix]
             [-d] [--quiet] [--strict-exit]
             [-M max_inflight]
";

/// The end of both synopses, before `<tool> --help`.
const SYNOPSIS_END: &str = "             [-o options-file]
             [-u username [-P password | --pw-file file | --pw-prompt]]
             [--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]
             [{--cafile file | --capath dir} [--cert file] [--key file]
               [--insecure] [--tls-alpn protocol] [--tls-version version]
               [--tls-use-os-certs] [--tls-keylog file] [--no-tls]]
             [--proxy socks-url]
             [--connect-timeout seconds]
             [-D command identifier value]
";

/// The `-F` codes, after mqsub's option lines.
const FORMAT_HELP: &str = "
Output format (-F):
  %% a literal %            %t topic                 %p payload
  %x %X payload as hex      %l payload length        %q QoS
  %r retain flag            %m message id            %I ISO 8601 time
  %U Unix time.nanoseconds  %j JSON, payload a string  %J JSON, payload parsed
  %d %f payload as an IEEE-754 double / float (8 / 4 bytes, native byte order)
  MQTT v5: %A topic alias, %C content type, %D correlation data, %E message expiry,
           %F payload format indicator, %P user properties, %R response topic,
           %S subscription identifier
  Flags, width and precision: %[-][0][width][.precision]code; %.Nx and %.N:x split hex.
  @X: strftime %X (e.g. @Y-@m-@dT@H:@M:@S@z), @N nanoseconds, @@ a literal @.
  Escapes: \\\\ \\0 \\a \\e \\n \\r \\t \\v
";

impl Tool {
    /// The full usage text printed by `--help`.
    pub fn usage(self) -> String {
        let synopsis = match self {
            Self::Pub => PUB_SYNOPSIS,
            Self::Sub => SUB_SYNOPSIS,
        };
        let mut s = synopsis.replace("{version}", env!("CARGO_PKG_VERSION"));
        s.push_str(SYNOPSIS_END);
        s.push_str(&format!("       {} --help\n\n", self.name()));
        let (own, common): (Vec<_>, Vec<_>) = defs::of(self).partition(|o| o.tools != For::Both);
        for o in own.into_iter().chain(common) {
            let label = format!(" {} : ", o.label());
            let indent = " ".repeat(label.chars().count());
            for (i, line) in o.help.replace("<tool>", self.name()).lines().enumerate() {
                s.push_str(if i == 0 { &label } else { &indent });
                s.push_str(line);
                s.push('\n');
            }
        }
        if self == Self::Sub {
            s.push_str(FORMAT_HELP);
        }
        s.push_str(
            "\nDifferences from mosquitto are listed in DIFFERENCES.md.\n\
             See https://github.com/mqtt-rs/mqtt for more information.\n\n",
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every option the synopsis names is one the tool has (the synopsis is a selection:
    /// the lines below it list them all, from the table).
    #[test]
    fn the_synopsis_names_only_real_options() {
        for tool in Tool::ALL {
            let usage = tool.usage();
            let synopsis = &usage[..usage.find("\n\n -").unwrap_or(usage.len())];
            let mut named = 0;
            for word in synopsis.split(|c: char| c.is_whitespace() || "[]{}|".contains(c)) {
                if word.starts_with('-') && word.len() > 1 {
                    assert!(defs::find(tool, word).is_some(), "{}: {word}", tool.name());
                    named += 1;
                }
            }
            assert!(named > 40, "{}: {named}", tool.name());
        }
    }
}
