//! The configuration file's shape, as serde reads it: every key the file may
//! hold, unknown keys refused, every value kept with its position
//! ([`Spanned`]) so that the checks in `toml_file` can point at its line.
//! Values are kept as written (strings, integers); `toml_file` interprets them.

use serde::de::{self, value::MapAccessDeserializer, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawFile {
    pub(crate) global: Option<Spanned<RawGlobal>>,
    pub(crate) listener: Option<Spanned<Vec<Spanned<RawListener>>>>,
    #[serde(default)]
    pub(crate) backend: BTreeMap<Spanned<String>, Spanned<RawBackend>>,
}

/// `[global]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawGlobal {
    pub(crate) maxconn: Option<Spanned<Int>>,
    pub(crate) threads: Option<Spanned<Int>>,
    pub(crate) buffer_size: Option<Spanned<SizeText>>,
    pub(crate) pipe_size: Option<Spanned<SizeText>>,
    pub(crate) splice: Option<Spanned<String>>,
    pub(crate) grace_period: Option<Spanned<DurationText>>,
    pub(crate) stats_socket: Option<Spanned<String>>,
    pub(crate) metrics: Option<Spanned<String>>,
}

/// One `[[listener]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawListener {
    pub(crate) name: Spanned<String>,
    pub(crate) listen: Option<Spanned<AddrList>>,
    pub(crate) backend: Option<Spanned<BackendRef>>,
    pub(crate) maxconn: Option<Spanned<Int>>,
    pub(crate) splice: Option<Spanned<String>>,
    pub(crate) timeout_handshake: Option<Spanned<DurationText>>,
    pub(crate) timeout_client: Option<Spanned<DurationText>>,
    pub(crate) timeout_client_fin: Option<Spanned<DurationText>>,
    pub(crate) accept_proxy: Option<Spanned<bool>>,
    pub(crate) health: Option<Spanned<bool>>,
    pub(crate) monitor_net: Option<Spanned<NetList>>,
    pub(crate) rules: Option<Spanned<Vec<Spanned<RawRule>>>>,
    pub(crate) src_rules: Option<Spanned<Vec<Spanned<RawRule>>>>,
    pub(crate) tls: Option<Spanned<RawFrontTls>>,
    pub(crate) use_backend: Option<Spanned<Vec<Spanned<RawRoute>>>>,
    pub(crate) propagate_abort: Option<Spanned<bool>>,
}

/// A route: `{ backend = "NAME", src = ["CIDR", ...], unless = false }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawRoute {
    pub(crate) backend: Spanned<String>,
    pub(crate) src: Spanned<Vec<Spanned<String>>>,
    pub(crate) unless: Option<Spanned<bool>>,
}

/// A rule: `{ allow = "CIDR" }` or `{ deny = "CIDR" }` (exactly one, which
/// `toml_file` checks so that the error can name the rule's line).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawRule {
    pub(crate) allow: Option<Spanned<String>>,
    pub(crate) deny: Option<Spanned<String>>,
}

/// A listener's `tls`: `{ certs = [ { cert = "FILE", key = "FILE" }, ... ], alpn = [...] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawFrontTls {
    pub(crate) certs: Option<Spanned<Vec<Spanned<RawCertPair>>>>,
    pub(crate) alpn: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A certificate chain and its private key, both PEM files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawCertPair {
    pub(crate) cert: Spanned<String>,
    pub(crate) key: Spanned<String>,
}

/// A backend's `tls`: `{ ca = "FILE" }` or `{ insecure = true }`, with
/// `sni` and `alpn`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawBackTls {
    pub(crate) ca: Option<Spanned<String>>,
    pub(crate) insecure: Option<Spanned<bool>>,
    pub(crate) sni: Option<Spanned<String>>,
    pub(crate) alpn: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A `[backend.NAME]` section, or a listener's inline backend.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawBackend {
    pub(crate) servers: Option<Spanned<Vec<Spanned<RawServer>>>>,
    pub(crate) balance: Option<Spanned<String>>,
    pub(crate) retries: Option<Spanned<Int>>,
    pub(crate) redispatch: Option<Spanned<bool>>,
    pub(crate) queue: Option<Spanned<bool>>,
    pub(crate) server_maxconn: Option<Spanned<Int>>,
    pub(crate) timeout_connect: Option<Spanned<DurationText>>,
    pub(crate) timeout_server: Option<Spanned<DurationText>>,
    pub(crate) timeout_server_fin: Option<Spanned<DurationText>>,
    pub(crate) timeout_queue: Option<Spanned<DurationText>>,
    pub(crate) timeout_turn_around: Option<Spanned<DurationText>>,
    pub(crate) send_proxy: Option<Spanned<String>>,
    pub(crate) send_proxy_tlv: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) tls: Option<Spanned<RawBackTls>>,
    pub(crate) src_conn_limit: Option<Spanned<Int>>,
    pub(crate) src_conn_rate: Option<Spanned<Int>>,
    pub(crate) src_conn_rate_period: Option<Spanned<DurationText>>,
}

/// A server: `"IP:PORT"` or `{ addr = "IP:PORT", name = "NAME", maxconn = N, ... }`.
#[derive(Debug)]
pub(crate) enum RawServer {
    Addr(String),
    Table(Box<RawServerTable>),
}

/// A server written as a table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawServerTable {
    pub(crate) addr: Spanned<String>,
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) maxconn: Option<Spanned<Int>>,
    pub(crate) check: Option<Spanned<bool>>,
    pub(crate) inter: Option<Spanned<DurationText>>,
    pub(crate) rise: Option<Spanned<Int>>,
    pub(crate) fall: Option<Spanned<Int>>,
    pub(crate) backup: Option<Spanned<bool>>,
}

/// A listener's `backend`: the name of a `[backend.NAME]` section, or a
/// table (`backend = { ... }` or `[listener.backend]`).
#[derive(Debug)]
pub(crate) enum BackendRef {
    Name(String),
    Inline(Box<RawBackend>),
}

/// `listen`: one address or an array of them.
#[derive(Debug)]
pub(crate) struct AddrList(pub(crate) OneOrMany);

/// `monitor-net`: one address block or an array of them.
#[derive(Debug)]
pub(crate) struct NetList(pub(crate) OneOrMany);

/// A string, or an array of strings each with its position.
#[derive(Debug)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<Spanned<String>>),
}

/// An integer as written (TOML integers are 64-bit signed).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Int(pub(crate) i64);

/// A duration: a string such as `"5s"`, or an integer of milliseconds.
#[derive(Clone, Debug)]
pub(crate) struct DurationText(pub(crate) Scalar);

/// A size: a string such as `"16k"`, or an integer of bytes.
#[derive(Clone, Debug)]
pub(crate) struct SizeText(pub(crate) Scalar);

/// A value written as a string or as an integer.
#[derive(Clone, Debug)]
pub(crate) enum Scalar {
    Text(String),
    Int(i64),
}

impl Scalar {
    /// The value as text: integers as their digits.
    pub(crate) fn text(&self) -> String {
        match self {
            Scalar::Text(t) => t.clone(),
            Scalar::Int(n) => n.to_string(),
        }
    }
}

/// Accepts a string or an integer; `expecting` names what was wanted.
struct ScalarVisitor(&'static str);

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_owned()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        i64::try_from(v).map(Scalar::Int).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor("a duration such as \"5s\", or a number of milliseconds")).map(DurationText)
    }
}

impl<'de> Deserialize<'de> for SizeText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor("a size such as \"16k\", or a number of bytes")).map(SizeText)
    }
}

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(ScalarVisitor("an integer"))? {
            Scalar::Int(n) => Ok(Int(n)),
            Scalar::Text(s) => Err(de::Error::invalid_type(de::Unexpected::Str(&s), &"an integer")),
        }
    }
}

impl<'de> Deserialize<'de> for RawServer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawServer;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a server address \"IP:PORT\" or a table { addr = \"IP:PORT\", name = \"NAME\", maxconn = N }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawServer, E> {
                Ok(RawServer::Addr(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawServer, A::Error> {
                RawServerTable::deserialize(MapAccessDeserializer::new(map)).map(|t| RawServer::Table(Box::new(t)))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for BackendRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BackendRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the name of a [backend.NAME] section, or a backend table")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BackendRef, E> {
                Ok(BackendRef::Name(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<BackendRef, A::Error> {
                RawBackend::deserialize(MapAccessDeserializer::new(map)).map(|b| BackendRef::Inline(Box::new(b)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Accepts a string or an array of strings; `expecting` names what was wanted.
struct OneOrManyVisitor(&'static str);

impl<'de> Visitor<'de> for OneOrManyVisitor {
    type Value = OneOrMany;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
        Ok(OneOrMany::One(v.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
        let mut v = Vec::new();
        while let Some(a) = seq.next_element()? {
            v.push(a);
        }
        Ok(OneOrMany::Many(v))
    }
}

impl<'de> Deserialize<'de> for AddrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OneOrManyVisitor("an address \"IP:PORT\" or an array of them")).map(AddrList)
    }
}

impl<'de> Deserialize<'de> for NetList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OneOrManyVisitor("an address block such as \"10.0.0.0/8\" or an array of them")).map(NetList)
    }
}
