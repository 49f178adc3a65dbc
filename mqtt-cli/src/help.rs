//! The `--help` texts (**D13**: printed on stdout with exit status 0; **D16**: every option is
//! listed, whatever the build supports; the default client id line is correct).

use crate::args::Tool;

const COMMON: &str =
    " -A : bind the outgoing socket to this host/ip address. Use to control which interface
      the client communicates over.
 -c : disable clean session/enable persistent client mode. When this argument is used,
      the broker will be instructed not to clean existing sessions for the same client
      id when the client connects, and sessions will never expire when the client
      disconnects. MQTT v5 clients can change their session expiry interval with the
      -x argument.
 -d : enable debug messages.
 -D : Define MQTT v5 properties. See the documentation for more details.
 -h : mqtt host to connect to. Defaults to localhost.
 -i : id to use for this client. Defaults to <tool>- followed by 8 random
      letters and digits, for every protocol version.
 -I : define the client id as id_prefix appended with the process id of the client.
 -k : keep alive in seconds for this client. Defaults to 60.
 -L : specify user, password, hostname, port and topic as a URL in the form:
      mqtt(s)://[username[:password]@]host[:port]/topic
      ws(s)://[username[:password]@]host[:port]/topic (WebSocket)
 -M : the maximum inflight messages for QoS 1/2.
 -o : read options from this file instead of the default options file.
 -p : network port to connect to. Defaults to 1883 for plain MQTT and 8883 for MQTT over TLS.
 -P : provide a password
 -q : quality of service level to use for all messages. Defaults to 0.
 -u : provide a username
 -V : Specify the version of the MQTT protocol to use when connecting.
      Can be mqttv5, mqttv311 or mqttv31. Defaults to mqttv311.
      -D and -x switch to mqttv5.
 -x : Set the session-expiry-interval property on the CONNECT packet. Applies to MQTT v5
      clients only (and switches to MQTT v5). Set to 0-4294967294 to specify the session
      will expire in that many seconds after the client disconnects, or use -1, 4294967295,
      or ∞ for a session that does not expire. Defaults to -1 if -c is also given, or 0 if
      -c not given.
 --connect-timeout : seconds to wait for CONNACK. Defaults to the keep alive.
 --help : display this message.
 --nodelay : disable Nagle's algorithm, to reduce socket sending latency at the possible
             expense of more packets being sent.
 --pw-file : read the password from this file (a trailing newline is removed).
             The MQTT_PASSWORD environment variable is used when no password is given.
 --pw-prompt : ask for the password on the terminal, without echo (-P wins over it,
               it wins over --pw-file and MQTT_PASSWORD).
 --quiet : don't print error messages.
 --strict-exit : exit with the MQTT v5 reason code when the broker refuses a message or
                 every subscription.
 --unix : connect to a broker through a unix domain socket instead of a TCP socket,
          e.g. /tmp/mosquitto.sock
 --version : display the version and exit.
 --will-payload : payload for the client Will, which is sent by the broker in case of
                  unexpected disconnection. If not given and will-topic is set, a zero
                  length message will be sent.
 --will-qos : QoS level for the client Will.
 --will-retain : if given, make the client Will retained.
 --will-topic : the topic on which to publish the client Will.
 --ws : connect with MQTT over WebSocket (path /mqtt).
 --cafile : path to a file containing trusted CA certificates to enable encrypted
            communication.
 --capath : path to a directory containing trusted CA certificates to enable encrypted
            communication.
 --cert : client certificate for authentication, if required by server.
 --key : client private key for authentication, if required by server.
 --keyform : keyfile type, can be \"pem\" (\"engine\" is not supported by this build).
 --ciphers : not supported by this build (rustls).
 --tls-alpn : TLS application layer protocol negotiation protocol.
 --tls-engine : not supported by this build (rustls).
 --tls-engine-kpass-sha1 : not supported by this build (rustls).
 --tls-keylog : append the TLS secrets to this file, for debugging with a packet capture.
 --tls-use-os-certs : Load and trust OS provided CA certificates.
 --tls-version : TLS protocol version, can be one of tlsv1.3 or tlsv1.2.
                 Defaults to negotiating the highest version available.
 --insecure : do not check that the server certificate hostname matches the remote
              hostname. Using this option means that you cannot be sure that the
              remote host is the server you wish to connect to and so is insecure.
              Do not use this option in a production environment.
 --no-tls : do not use TLS, even on port 8883 or with TLS options in the options file.
 --psk : not supported by this build (rustls).
 --psk-identity : not supported by this build (rustls).
 --proxy : SOCKS5 proxy URL of the form:
           socks5h://[username[:password]@]hostname[:port]
           Only \"none\" and \"username\" authentication is supported.
";

const PUB: &str = "\
mqpub is a simple mqtt client that will publish a message on a single topic and exit.
mqpub version {version}.

Usage: mqpub {[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL}
             {-f file | -l | -n | -m message | -s}
             [-c] [-k keepalive] [-q qos] [-r] [--repeat N] [--repeat-delay time] [-x session-expiry]
             [-A bind_address] [--nodelay] [--ws]
             [-i id] [-I id_prefix]
             [-d] [--quiet] [--strict-exit]
             [-M max_inflight] [--topic-aliases]
             [-o options-file]
             [-u username [-P password | --pw-file file | --pw-prompt]]
             [--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]
             [{--cafile file | --capath dir} [--cert file] [--key file]
               [--insecure] [--tls-alpn protocol] [--tls-version version]
               [--tls-use-os-certs] [--tls-keylog file] [--no-tls]]
             [--proxy socks-url]
             [--connect-timeout seconds]
             [-D command identifier value]
       mqpub --help

 -f : send the contents of a file as the message.
 -l : read messages from stdin, sending a separate message for each line.
 -m : message payload to send.
 -n : send a null (zero length) message.
 -r : message should be retained.
 -s : read message from stdin, sending the entire input as a message.
 -t : mqtt topic to publish to.
 --repeat : if publish mode is -f, -m, or -s, then repeat the publish N times.
 --repeat-delay : if using --repeat, wait time seconds between publishes. Defaults to 0.
 --topic-aliases : MQTT v5: use topic aliases when the broker allows them (the topic is
                   sent once, later messages carry only its alias).
";

const SUB: &str = "\
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
             [-o options-file]
             [-u username [-P password | --pw-file file | --pw-prompt]]
             [--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]
             [{--cafile file | --capath dir} [--cert file] [--key file]
               [--insecure] [--tls-alpn protocol] [--tls-version version]
               [--tls-use-os-certs] [--tls-keylog file] [--no-tls]]
             [--proxy socks-url]
             [--connect-timeout seconds]
             [-D command identifier value]
       mqsub --help

 -C : disconnect and exit after receiving the 'msg_count' messages.
 -E : Exit once all subscriptions have been acknowledged by the broker.
 -F : output format.
 -N : do not add an end of line character when printing the payload.
 -R : do not print stale messages (those with retain set).
 -t : mqtt topic to subscribe to. May be repeated multiple times.
 -T : topic string to filter out of results. May be repeated.
 -U : unsubscribe from a topic. May be repeated.
 -v : print published messages verbosely.
 -w : watch: instead of printing each message, keep redrawing a table of the latest
      message of every topic (also --watch).
 -W : Specifies a timeout in seconds how long to process incoming MQTT messages.
 --color : colour the topic with -v: auto (when stdout is a terminal, the default),
           always or never.
 --json : print each message as one JSON object per line (same as -F %j).
 --json-props : always include \"properties\" in %j/%J JSON output.
 --message-rate : print the number of messages received per second on stderr, once a
                  second, instead of the messages.
 --no-reconnect : exit when the connection is lost instead of reconnecting.
 --output : append the messages to this file instead of printing them on stdout.
 --output-dir : write each message to its own file in this directory, named after the
                topic with / replaced by _, a dash and a counter (a/b gives a_b-1).
 --payload-format : payload in -v and default mode: raw (the default), hex, base64, or
                    text (non-printable characters escaped).
 --pretty : print formatted output rather than minimised output when using the
            JSON output format option.
 --random-filter : only print a percentage of received messages (0.1-100.0).
 --reconnect-max : give up after this many failed reconnection attempts in a row.
 --remove-retained : send a message to the server to clear any received retained messages
                     Use -T to filter out messages you do not want to be cleared.
 --retain-as-published : this client requests that the broker keeps the retain flag of
                         messages it forwards (MQTT v5 only).
 --retain-handling : when the broker sends retained messages: always, new (only for new
                     subscriptions) or never (MQTT v5 only). -R implies never.
 --retained-only : only handle messages with the retained flag set, and exit when the
                   first non-retained message is received.
";

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

/// The full usage text of `tool`.
pub(crate) fn usage(tool: Tool) -> String {
    let head = match tool {
        Tool::Pub => PUB,
        Tool::Sub => SUB,
    };
    let mut s = head.replace("{version}", env!("CARGO_PKG_VERSION"));
    s.push_str(&COMMON.replace("<tool>", tool.name()));
    if tool == Tool::Sub {
        s.push_str(FORMAT_HELP);
    }
    s.push_str(
        "\nDifferences from mosquitto are listed in DIFFERENCES.md.\n\
         See https://github.com/mqtt-rs/mqtt for more information.\n\n",
    );
    s
}
