//! Reason codes (MQTT 5.0 §2.4), one enum per packet so that each can only hold the codes
//! that packet may carry [MQTT-3.2.2-8], [MQTT-3.14.2-1], [MQTT-3.15.2-1].
//!
//! A code of 0x80 or more is a failure ([`is_error`](ConnectReason::is_error)).

use std::fmt;

macro_rules! reason_codes {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( #[doc = concat!("`", stringify!($code), "` ", $text, ".")] $(#[$vmeta])* $variant = $code, )*
        }

        impl $name {
            /// Every code of this kind, in wire order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The code for a wire byte, if this packet may carry it.
            pub const fn from_u8(code: u8) -> Option<Self> {
                match code {
                    $( $code => Some(Self::$variant), )*
                    _ => None,
                }
            }

            /// The wire byte.
            pub const fn code(self) -> u8 {
                self as u8
            }

            /// Whether this code reports a failure (0x80 or more).
            pub const fn is_error(self) -> bool {
                (self as u8) >= 0x80
            }

            /// The specification's name for the code.
            pub const fn description(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )*
                }
            }
        }

        impl From<$name> for u8 {
            fn from(r: $name) -> u8 {
                r as u8
            }
        }

        impl TryFrom<u8> for $name {
            type Error = u8;
            fn try_from(code: u8) -> Result<Self, u8> {
                Self::from_u8(code).ok_or(code)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} (0x{:02X})", self.description(), *self as u8)
            }
        }
    };
}

reason_codes! {
    /// CONNACK reason codes (5.0 §3.2.2.2). MQTT 3.1 and 3.1.1 return codes 1 to 5 map onto
    /// the 5.0 codes of the same meaning (see [`ConnectReason::from_v3`]).
    pub enum ConnectReason {
        Success = 0x00 => "Success",
        UnspecifiedError = 0x80 => "Unspecified error",
        MalformedPacket = 0x81 => "Malformed Packet",
        ProtocolError = 0x82 => "Protocol Error",
        ImplementationSpecificError = 0x83 => "Implementation specific error",
        UnsupportedProtocolVersion = 0x84 => "Unsupported Protocol Version",
        ClientIdentifierNotValid = 0x85 => "Client Identifier not valid",
        BadUserNameOrPassword = 0x86 => "Bad User Name or Password",
        NotAuthorized = 0x87 => "Not authorized",
        ServerUnavailable = 0x88 => "Server unavailable",
        ServerBusy = 0x89 => "Server busy",
        Banned = 0x8A => "Banned",
        BadAuthenticationMethod = 0x8C => "Bad authentication method",
        TopicNameInvalid = 0x90 => "Topic Name invalid",
        PacketTooLarge = 0x95 => "Packet too large",
        QuotaExceeded = 0x97 => "Quota exceeded",
        PayloadFormatInvalid = 0x99 => "Payload format invalid",
        RetainNotSupported = 0x9A => "Retain not supported",
        QoSNotSupported = 0x9B => "QoS not supported",
        UseAnotherServer = 0x9C => "Use another server",
        ServerMoved = 0x9D => "Server moved",
        ConnectionRateExceeded = 0x9F => "Connection rate exceeded",
    }
}

impl ConnectReason {
    /// The reason for an MQTT 3.1 / 3.1.1 CONNACK return code (0 to 5).
    pub const fn from_v3(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Success,
            1 => Self::UnsupportedProtocolVersion,
            2 => Self::ClientIdentifierNotValid,
            3 => Self::ServerUnavailable,
            4 => Self::BadUserNameOrPassword,
            5 => Self::NotAuthorized,
            _ => return None,
        })
    }

    /// The MQTT 3.1 / 3.1.1 return code for this reason, if 3.1.1 has one.
    pub const fn to_v3(self) -> Option<u8> {
        Some(match self {
            Self::Success => 0,
            Self::UnsupportedProtocolVersion => 1,
            Self::ClientIdentifierNotValid => 2,
            Self::ServerUnavailable => 3,
            Self::BadUserNameOrPassword => 4,
            Self::NotAuthorized => 5,
            _ => return None,
        })
    }
}

reason_codes! {
    /// PUBACK and PUBREC reason codes (5.0 §3.4.2.1, §3.5.2.1).
    pub enum PubAckReason {
        Success = 0x00 => "Success",
        NoMatchingSubscribers = 0x10 => "No matching subscribers",
        UnspecifiedError = 0x80 => "Unspecified error",
        ImplementationSpecificError = 0x83 => "Implementation specific error",
        NotAuthorized = 0x87 => "Not authorized",
        TopicNameInvalid = 0x90 => "Topic Name invalid",
        PacketIdentifierInUse = 0x91 => "Packet Identifier in use",
        QuotaExceeded = 0x97 => "Quota exceeded",
        PayloadFormatInvalid = 0x99 => "Payload format invalid",
    }
}

reason_codes! {
    /// PUBREL and PUBCOMP reason codes (5.0 §3.6.2.1, §3.7.2.1).
    pub enum PubRelReason {
        Success = 0x00 => "Success",
        PacketIdentifierNotFound = 0x92 => "Packet Identifier not found",
    }
}

reason_codes! {
    /// SUBACK reason codes (5.0 §3.9.3). MQTT 3.1.1 knows only 0x00, 0x01, 0x02 and 0x80.
    pub enum SubAckReason {
        GrantedQoS0 = 0x00 => "Granted QoS 0",
        GrantedQoS1 = 0x01 => "Granted QoS 1",
        GrantedQoS2 = 0x02 => "Granted QoS 2",
        UnspecifiedError = 0x80 => "Unspecified error",
        ImplementationSpecificError = 0x83 => "Implementation specific error",
        NotAuthorized = 0x87 => "Not authorized",
        TopicFilterInvalid = 0x8F => "Topic Filter invalid",
        PacketIdentifierInUse = 0x91 => "Packet Identifier in use",
        QuotaExceeded = 0x97 => "Quota exceeded",
        SharedSubscriptionsNotSupported = 0x9E => "Shared Subscriptions not supported",
        SubscriptionIdentifiersNotSupported = 0xA1 => "Subscription Identifiers not supported",
        WildcardSubscriptionsNotSupported = 0xA2 => "Wildcard Subscriptions not supported",
    }
}

impl SubAckReason {
    /// Whether MQTT 3.1 / 3.1.1 can carry this code.
    pub const fn in_v3(self) -> bool {
        matches!(
            self,
            Self::GrantedQoS0 | Self::GrantedQoS1 | Self::GrantedQoS2 | Self::UnspecifiedError
        )
    }

    /// The granted QoS, for a success.
    pub const fn granted_qos(self) -> Option<crate::types::QoS> {
        match self {
            Self::GrantedQoS0 => Some(crate::types::QoS::AtMostOnce),
            Self::GrantedQoS1 => Some(crate::types::QoS::AtLeastOnce),
            Self::GrantedQoS2 => Some(crate::types::QoS::ExactlyOnce),
            _ => None,
        }
    }
}

reason_codes! {
    /// UNSUBACK reason codes (5.0 §3.11.3).
    pub enum UnsubAckReason {
        Success = 0x00 => "Success",
        NoSubscriptionExisted = 0x11 => "No subscription existed",
        UnspecifiedError = 0x80 => "Unspecified error",
        ImplementationSpecificError = 0x83 => "Implementation specific error",
        NotAuthorized = 0x87 => "Not authorized",
        TopicFilterInvalid = 0x8F => "Topic Filter invalid",
        PacketIdentifierInUse = 0x91 => "Packet Identifier in use",
    }
}

reason_codes! {
    /// DISCONNECT reason codes (5.0 §3.14.2.1).
    pub enum DisconnectReason {
        NormalDisconnection = 0x00 => "Normal disconnection",
        DisconnectWithWillMessage = 0x04 => "Disconnect with Will Message",
        UnspecifiedError = 0x80 => "Unspecified error",
        MalformedPacket = 0x81 => "Malformed Packet",
        ProtocolError = 0x82 => "Protocol Error",
        ImplementationSpecificError = 0x83 => "Implementation specific error",
        NotAuthorized = 0x87 => "Not authorized",
        ServerBusy = 0x89 => "Server busy",
        ServerShuttingDown = 0x8B => "Server shutting down",
        KeepAliveTimeout = 0x8D => "Keep Alive timeout",
        SessionTakenOver = 0x8E => "Session taken over",
        TopicFilterInvalid = 0x8F => "Topic Filter invalid",
        TopicNameInvalid = 0x90 => "Topic Name invalid",
        ReceiveMaximumExceeded = 0x93 => "Receive Maximum exceeded",
        TopicAliasInvalid = 0x94 => "Topic Alias invalid",
        PacketTooLarge = 0x95 => "Packet too large",
        MessageRateTooHigh = 0x96 => "Message rate too high",
        QuotaExceeded = 0x97 => "Quota exceeded",
        AdministrativeAction = 0x98 => "Administrative action",
        PayloadFormatInvalid = 0x99 => "Payload format invalid",
        RetainNotSupported = 0x9A => "Retain not supported",
        QoSNotSupported = 0x9B => "QoS not supported",
        UseAnotherServer = 0x9C => "Use another server",
        ServerMoved = 0x9D => "Server moved",
        SharedSubscriptionsNotSupported = 0x9E => "Shared Subscriptions not supported",
        ConnectionRateExceeded = 0x9F => "Connection rate exceeded",
        MaximumConnectTime = 0xA0 => "Maximum connect time",
        SubscriptionIdentifiersNotSupported = 0xA1 => "Subscription Identifiers not supported",
        WildcardSubscriptionsNotSupported = 0xA2 => "Wildcard Subscriptions not supported",
    }
}

reason_codes! {
    /// AUTH reason codes (5.0 §3.15.2.1).
    pub enum AuthReason {
        Success = 0x00 => "Success",
        ContinueAuthentication = 0x18 => "Continue authentication",
        ReAuthenticate = 0x19 => "Re-authenticate",
    }
}
