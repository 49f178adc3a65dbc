//! TLS, for both tools. What rustls cannot do (`--psk`, `--tls-engine`, `--ciphers`,
//! `--keyform engine`, `--tls-version tlsv1.1`) is read here and refused once everything is
//! parsed (**D16**), so that mosquitto's other checks come first, in its order.

use crate::args::flag::{For, Kind, Opt};

pub(crate) const CAFILE: Opt = Opt {
    short: None,
    long: Some("cafile"),
    tools: For::Both,
    summary: "Trusted CA certificates (turns TLS on)",
    help: "path to a file containing trusted CA certificates to enable encrypted\n\
           communication.",
    kind: Kind::value(
        "FILE",
        "Error: --cafile argument given but no file specified.\n\n",
        |st, v| {
            st.tls.cafile = Some(v.into());
            Ok(())
        },
    ),
};

pub(crate) const CAPATH: Opt = Opt {
    short: None,
    long: Some("capath"),
    tools: For::Both,
    summary: "Directory of trusted CA certificates (turns TLS on)",
    help: "path to a directory containing trusted CA certificates to enable encrypted\n\
           communication.",
    kind: Kind::value(
        "DIR",
        "Error: --capath argument given but no directory specified.\n\n",
        |st, v| {
            st.tls.capath = Some(v.into());
            Ok(())
        },
    ),
};

pub(crate) const CERT: Opt = Opt {
    short: None,
    long: Some("cert"),
    tools: For::Both,
    summary: "Client certificate",
    help: "client certificate for authentication, if required by server.",
    kind: Kind::value(
        "FILE",
        "Error: --cert argument given but no file specified.\n\n",
        |st, v| {
            st.tls.cert = Some(v.into());
            Ok(())
        },
    ),
};

pub(crate) const KEY: Opt = Opt {
    short: None,
    long: Some("key"),
    tools: For::Both,
    summary: "Client private key",
    help: "client private key for authentication, if required by server.",
    kind: Kind::value(
        "FILE",
        "Error: --key argument given but no file specified.\n\n",
        |st, v| {
            st.tls.key = Some(v.into());
            Ok(())
        },
    ),
};

pub(crate) const KEYFORM: Opt = Opt {
    short: None,
    long: Some("keyform"),
    tools: For::Both,
    summary: "Key type: pem",
    help: "keyfile type, can be \"pem\" (\"engine\" is not supported by this build).",
    kind: Kind::value(
        "FORM",
        "Error: --keyform argument given but no keyform specified.\n\n",
        |st, v| {
            st.tls.keyform = Some(v.to_string_lossy().into_owned());
            Ok(())
        },
    ),
};

/// **D16**.
pub(crate) const CIPHERS: Opt = Opt {
    short: None,
    long: Some("ciphers"),
    tools: For::Both,
    summary: "Not supported by this build",
    help: "not supported by this build (rustls).",
    kind: Kind::value(
        "LIST",
        "Error: --ciphers argument given but no ciphers specified.\n\n",
        |st, v| {
            st.tls.ciphers = Some(v.to_string_lossy().into_owned());
            Ok(())
        },
    ),
};

pub(crate) const TLS_ALPN: Opt = Opt {
    short: None,
    long: Some("tls-alpn"),
    tools: For::Both,
    summary: "TLS ALPN protocol",
    help: "TLS application layer protocol negotiation protocol.",
    kind: Kind::value(
        "PROTOCOL",
        "Error: --tls-alpn argument given but no protocol specified.\n\n",
        |st, v| {
            st.tls.alpn = Some(v.to_string_lossy().into_owned());
            Ok(())
        },
    ),
};

/// **D16**.
pub(crate) const TLS_ENGINE: Opt = Opt {
    short: None,
    long: Some("tls-engine"),
    tools: For::Both,
    summary: "Not supported by this build",
    help: "not supported by this build (rustls).",
    kind: Kind::value(
        "ENGINE",
        "Error: --tls-engine argument given but no engine_id specified.\n\n",
        |st, v| {
            st.tls.engine = Some(v.to_string_lossy().into_owned());
            Ok(())
        },
    ),
};

/// **D16**.
pub(crate) const TLS_ENGINE_KPASS_SHA1: Opt = Opt {
    short: None,
    long: Some("tls-engine-kpass-sha1"),
    tools: For::Both,
    summary: "Not supported by this build",
    help: "not supported by this build (rustls).",
    kind: Kind::value(
        "SHA1",
        "Error: --tls-engine-kpass-sha1 argument given but no kpass sha1 specified.\n\n",
        |st, v| {
            st.tls.engine_kpass_sha1 = Some(v.to_string_lossy().into_owned());
            Ok(())
        },
    ),
};

/// An addition (mosquitto 2.1).
pub(crate) const TLS_KEYLOG: Opt = Opt {
    short: None,
    long: Some("tls-keylog"),
    tools: For::Both,
    summary: "Write TLS secrets to this file",
    help: "append the TLS secrets to this file, for debugging with a packet capture.",
    kind: Kind::value(
        "FILE",
        "Error: --tls-keylog argument given but no file specified.\n\n",
        |st, v| {
            st.tls.keylog = Some(v.into());
            Ok(())
        },
    ),
};

pub(crate) const TLS_USE_OS_CERTS: Opt = Opt {
    short: None,
    long: Some("tls-use-os-certs"),
    tools: For::Both,
    summary: "Trust the OS certificate store",
    help: "Load and trust OS provided CA certificates.",
    kind: Kind::Switch(|st| {
        st.tls.use_os_certs = true;
        Ok(())
    }),
};

pub(crate) const TLS_VERSION: Opt = Opt {
    short: None,
    long: Some("tls-version"),
    tools: For::Both,
    summary: "tlsv1.3 or tlsv1.2",
    help: "TLS protocol version, can be one of tlsv1.3 or tlsv1.2.\n\
           Defaults to negotiating the highest version available.",
    kind: Kind::value(
        "VERSION",
        "Error: --tls-version argument given but no version specified.\n\n",
        |st, v| {
            st.tls.version = Some(v.to_string_lossy().into_owned());
            Ok(())
        },
    ),
};

pub(crate) const INSECURE: Opt = Opt {
    short: None,
    long: Some("insecure"),
    tools: For::Both,
    summary: "Do not check the server host name",
    help: "do not check that the server certificate hostname matches the remote\n\
           hostname. Using this option means that you cannot be sure that the\n\
           remote host is the server you wish to connect to and so is insecure.\n\
           Do not use this option in a production environment.",
    kind: Kind::Switch(|st| {
        st.tls.insecure = true;
        Ok(())
    }),
};

/// An addition.
pub(crate) const NO_TLS: Opt = Opt {
    short: None,
    long: Some("no-tls"),
    tools: For::Both,
    summary: "Do not use TLS",
    help: "do not use TLS, even on port 8883 or with TLS options in the options file.",
    kind: Kind::Switch(|st| {
        st.tls.no_tls = true;
        Ok(())
    }),
};

/// **D16**.
pub(crate) const PSK: Opt = Opt {
    short: None,
    long: Some("psk"),
    tools: For::Both,
    summary: "Not supported by this build",
    help: "not supported by this build (rustls).",
    kind: Kind::value(
        "KEY",
        "Error: --psk argument given but no key specified.\n\n",
        |st, v| {
            st.tls.psk = Some(v.to_string_lossy().into_owned());
            Ok(())
        },
    ),
};

/// **D16**.
pub(crate) const PSK_IDENTITY: Opt = Opt {
    short: None,
    long: Some("psk-identity"),
    tools: For::Both,
    summary: "Not supported by this build",
    help: "not supported by this build (rustls).",
    kind: Kind::value(
        "IDENTITY",
        "Error: --psk-identity argument given but no identity specified.\n\n",
        |st, v| {
            st.tls.psk_identity = Some(v.to_string_lossy().into_owned());
            Ok(())
        },
    ),
};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::args::model::TlsVersion;
    use crate::args::testing::{pub_ok, pub_says, sub_ok, sub_says};

    const UNSUPPORTED: &str = "is not supported by this build.";

    #[test]
    fn cafile() {
        let a = pub_ok(&["--cafile", "/ca.pem"]);
        let tls = a.conn.tls.unwrap();
        assert_eq!(tls.cafile.as_deref(), Some("/ca.pem".as_ref()));
        assert!(!tls.use_os_certs);
        // A CA turns TLS on, on 8883.
        assert_eq!(a.conn.port, 8883);
    }

    #[test]
    fn capath() {
        let a = sub_ok(&["--capath", "/etc/ssl/certs"]);
        assert_eq!(
            a.conn.tls.unwrap().capath.as_deref(),
            Some("/etc/ssl/certs".as_ref())
        );
    }

    #[test]
    fn cert() {
        let a = pub_ok(&["--cafile", "c", "--cert", "crt", "--key", "k"]);
        assert_eq!(a.conn.tls.unwrap().cert.as_deref(), Some("crt".as_ref()));
        assert_eq!(
            pub_says(&["--cert", "crt"]),
            "Error: Both certfile and keyfile must be provided if one of them is set."
        );
    }

    #[test]
    fn key() {
        assert_eq!(
            sub_says(&["--key", "k"]),
            "Error: Both certfile and keyfile must be provided if one of them is set."
        );
    }

    #[test]
    fn keyform() {
        assert!(
            pub_ok(&["--cert", "c", "--key", "k", "--keyform", "pem"])
                .conn
                .tls
                .is_none()
        );
        assert_eq!(
            pub_says(&["--keyform", "pem"]),
            "Error: If keyform is set, keyfile must be also specified."
        );
        assert_eq!(
            pub_says(&[
                "--cert",
                "c",
                "--key",
                "k",
                "--keyform",
                "engine",
                "-t",
                "t",
                "-m",
                "m"
            ]),
            format!("Error: --keyform engine {UNSUPPORTED}")
        );
        assert_eq!(
            pub_says(&[
                "--cert",
                "c",
                "--key",
                "k",
                "--keyform",
                "der",
                "-t",
                "t",
                "-m",
                "m"
            ]),
            "Error: Problem setting key form, it must be one of 'pem' or 'engine'."
        );
    }

    #[test]
    fn ciphers() {
        assert_eq!(
            pub_says(&["--ciphers", "x", "-t", "t", "-m", "m"]),
            format!("Error: --ciphers {UNSUPPORTED}")
        );
    }

    #[test]
    fn tls_alpn() {
        let a = pub_ok(&["--cafile", "c", "--tls-alpn", "mqtt"]);
        assert_eq!(a.conn.tls.unwrap().alpn.as_deref(), Some("mqtt"));
    }

    #[test]
    fn tls_engine() {
        assert_eq!(
            sub_says(&["--tls-engine", "e", "-t", "t"]),
            format!("Error: --tls-engine {UNSUPPORTED}")
        );
    }

    #[test]
    fn tls_engine_kpass_sha1() {
        assert_eq!(
            sub_says(&["--tls-engine-kpass-sha1", "x", "-t", "t"]),
            "Error: when using tls-engine-kpass-sha1, both tls-engine and keyform must also be provided."
        );
    }

    #[test]
    fn tls_keylog() {
        let a = pub_ok(&["--cafile", "c", "--tls-keylog", "/k.log"]);
        assert_eq!(
            a.conn.tls.unwrap().keylog.as_deref(),
            Some("/k.log".as_ref())
        );
    }

    #[test]
    fn tls_use_os_certs() {
        assert!(pub_ok(&[]).conn.tls.is_none());
        let a = pub_ok(&["--tls-use-os-certs"]);
        assert!(a.conn.tls.unwrap().use_os_certs);
        assert_eq!(a.conn.port, 1883);
    }

    #[test]
    fn tls_version() {
        let v = |w: &str| {
            pub_ok(&["--cafile", "c", "--tls-version", w])
                .conn
                .tls
                .unwrap()
                .version
        };
        assert_eq!(v("tlsv1.2"), Some(TlsVersion::Tls12));
        assert_eq!(v("tlsv1.3"), Some(TlsVersion::Tls13));
        assert_eq!(
            pub_says(&["--tls-version", "tlsv1.1", "-t", "t", "-m", "m"]),
            format!("Error: --tls-version tlsv1.1 {UNSUPPORTED}")
        );
    }

    #[test]
    fn insecure() {
        let a = sub_ok(&["--cafile", "c", "--insecure"]);
        assert!(a.conn.tls.unwrap().insecure);
    }

    #[test]
    fn no_tls() {
        let a = pub_ok(&["-p", "8883", "--no-tls"]);
        assert!(a.conn.tls.is_none());
        assert!(pub_ok(&["-p", "8883"]).conn.tls.is_some());
    }

    #[test]
    fn psk() {
        assert_eq!(
            pub_says(&["--psk", "00", "-t", "t", "-m", "m"]),
            "Error: --psk-identity required if --psk used."
        );
        assert_eq!(
            pub_says(&["--psk", "00", "--cafile", "c"]),
            "Error: Only one of --psk or --cafile/--capath may be used at once."
        );
    }

    #[test]
    fn psk_identity() {
        assert_eq!(
            pub_says(&["--psk", "00", "--psk-identity", "i", "-t", "t", "-m", "m"]),
            format!("Error: --psk {UNSUPPORTED}")
        );
    }
}
