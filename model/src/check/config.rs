//! What the model explores: presets and feature switches.

use crate::core::{Mutant, SessionConfig, SpliceMode, Timeouts};
use std::fmt;
use std::str::FromStr;

/// A feature of the proxy the model can switch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// TLS towards the client (the data layer on the front).
    TlsFront,
    /// TLS towards the server.
    TlsBack,
    /// PROXY header expected from the client.
    ProxyIn,
    /// PROXY header sent to the server.
    ProxyOut,
    /// Splice through pipes (raw connections only).
    Splice,
    /// `mode health` listeners.
    Health,
    /// monitor-net.
    Monitor,
    /// Connection and source rules.
    Rules,
    /// One retry, with turn-around and redispatch, over two servers.
    Retries,
    /// Queueing at server maxconn.
    Queue,
    /// Peers that send garbage instead of a PROXY header or a TLS hello.
    Garbage,
    /// `--propagate-abort`: a peer's reset reaches the other peer as a reset,
    /// after every byte before it.
    PropagateAbort,
}

impl Feature {
    /// Every feature.
    pub const ALL: [Feature; 12] = [
        Feature::TlsFront,
        Feature::TlsBack,
        Feature::ProxyIn,
        Feature::ProxyOut,
        Feature::Splice,
        Feature::Health,
        Feature::Monitor,
        Feature::Rules,
        Feature::Retries,
        Feature::Queue,
        Feature::Garbage,
        Feature::PropagateAbort,
    ];

    /// Name on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Feature::TlsFront => "tls-front",
            Feature::TlsBack => "tls-back",
            Feature::ProxyIn => "proxy-in",
            Feature::ProxyOut => "proxy-out",
            Feature::Splice => "splice",
            Feature::Health => "health",
            Feature::Monitor => "monitor",
            Feature::Rules => "rules",
            Feature::Retries => "retries",
            Feature::Queue => "queue",
            Feature::Garbage => "garbage",
            Feature::PropagateAbort => "propagate-abort",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Feature {
    type Err = String;

    fn from_str(s: &str) -> Result<Feature, String> {
        if s == "tls" {
            return Err("say tls-front or tls-back".into());
        }
        Feature::ALL.iter().copied().find(|f| f.name() == s).ok_or_else(|| {
            let names: Vec<_> = Feature::ALL.iter().map(|f| f.name()).collect();
            format!("unknown feature `{s}` (one of: {})", names.join(", "))
        })
    }
}

/// A set of features.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Features(u16);

impl Features {
    /// Whether `f` is on.
    pub const fn has(self, f: Feature) -> bool {
        self.0 & (1 << f as u16) != 0
    }

    /// Switches `f` on.
    pub fn add(&mut self, f: Feature) {
        self.0 |= 1 << f as u16;
    }

    /// `self` with `f` on.
    pub fn with(mut self, f: Feature) -> Features {
        self.add(f);
        self
    }

    /// Every feature on but `f`.
    pub fn all_but(f: Feature) -> Features {
        Features(Features::all().0 & !(1 << f as u16))
    }

    /// `self` with `f` off.
    pub fn without(mut self, f: Feature) -> Features {
        self.0 &= !(1 << f as u16);
        self
    }

    /// Every feature on.
    pub fn all() -> Features {
        Feature::ALL.iter().fold(Features::default(), |s, &f| s.with(f))
    }

    /// The features that are on.
    pub fn iter(self) -> impl Iterator<Item = Feature> {
        Feature::ALL.into_iter().filter(move |&f| self.has(f))
    }
}

impl fmt::Debug for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.iter().map(|x| x.name()).collect();
        write!(f, "[{}]", names.join(","))
    }
}

/// The size of the explored world and the features switched on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelConfig {
    /// Preset name (for reports).
    pub preset: Preset,
    /// Data chunks the client may send.
    pub client_chunks: u8,
    /// Data chunks the server may send.
    pub server_chunks: u8,
    /// Chunks a kernel wire holds (send buffer plus receive buffer).
    pub wire_cap: u8,
    /// Chunks a channel buffer holds.
    pub buf_cap: u8,
    /// Chunks a pipe holds.
    pub pipe_cap: u8,
    /// Handshake messages (the PROXY header, the TLS hello) may arrive in
    /// two pieces (needs a wire of two chunks: a header piece waits on the
    /// wire for the rest).
    pub split: bool,
    /// Sessions in the model (1, or 2 where they contend for a server).
    pub sessions: u8,
    /// Data chunks each peer of the second session may send.
    pub second_chunks: u8,
    /// Features switched on.
    pub features: Features,
    /// The deliberate bug in the core, if any.
    pub mutant: Mutant,
}

/// The presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    /// Seconds: the core's sequencing with one chunk each way, raw TCP.
    Small,
    /// Minutes, what CI runs: two chunks each way, every feature but the
    /// queue and retries (each runs on the small preset in `cargo test`,
    /// and all together in `full`).
    Default,
    /// Two sessions contending for the servers' slots through the queue:
    /// sessions outside the model may hold every slot, the second session
    /// sends no data.
    Queue,
    /// Partial I/O: two chunks each way through wires and buffers of two
    /// (a recv takes part of what is there, a send part of what is offered),
    /// handshake messages in pieces, with the PROXY header, TLS towards the
    /// client and splice.
    Io,
    /// Every feature on.
    Full,
}

impl Preset {
    /// Name on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Preset::Small => "small",
            Preset::Default => "default",
            Preset::Io => "io",
            Preset::Queue => "queue",
            Preset::Full => "full",
        }
    }
}

impl FromStr for Preset {
    type Err = String;

    fn from_str(s: &str) -> Result<Preset, String> {
        match s {
            "small" => Ok(Preset::Small),
            "default" => Ok(Preset::Default),
            "io" => Ok(Preset::Io),
            "queue" => Ok(Preset::Queue),
            "full" => Ok(Preset::Full),
            _ => Err(format!("unknown preset `{s}` (small, io, queue, default or full)")),
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl ModelConfig {
    /// A preset, with its features.
    pub fn preset(p: Preset) -> ModelConfig {
        let small = ModelConfig {
            preset: p,
            client_chunks: 1,
            server_chunks: 1,
            wire_cap: 1,
            buf_cap: 1,
            pipe_cap: 1,
            split: false,
            sessions: 1,
            second_chunks: 0,
            features: Features::default(),
            mutant: Mutant::None,
        };
        match p {
            Preset::Small => small,
            Preset::Default => ModelConfig {
                client_chunks: 2,
                server_chunks: 2,
                // The queue and retries multiply the space by the servers'
                // occupancy and the attempts: see docs/model.md for the sizes.
                // Abort propagation is an option beyond HAProxy, checked on
                // the small preset and in `full`.
                features: Features::all_but(Feature::Queue).without(Feature::Retries).without(Feature::PropagateAbort),
                ..small
            },
            Preset::Queue => ModelConfig {
                sessions: 2,
                client_chunks: 0,
                server_chunks: 0,
                features: Features::default().with(Feature::Queue),
                ..small
            },
            Preset::Io => ModelConfig {
                client_chunks: 2,
                server_chunks: 2,
                wire_cap: 2,
                buf_cap: 2,
                pipe_cap: 2,
                split: true,
                features: Features::default().with(Feature::ProxyIn).with(Feature::TlsFront).with(Feature::Splice),
                ..small
            },
            Preset::Full => ModelConfig { client_chunks: 2, server_chunks: 2, features: Features::all(), ..small },
        }
    }

    /// Switches a feature on.
    pub fn with(mut self, f: Feature) -> ModelConfig {
        self.features.add(f);
        self
    }

    /// Selects a mutant.
    pub fn with_mutant(mut self, m: Mutant) -> ModelConfig {
        self.mutant = m;
        self
    }

    /// Whether `f` is on.
    pub fn has(&self, f: Feature) -> bool {
        self.features.has(f)
    }

    /// Whether sessions contend for the servers (two or more sessions).
    /// Their peers then end only by closing: no half-close, no abort, no
    /// refused connect (each is checked on one session by the other
    /// presets), which keeps the product of two sessions' behaviours
    /// within minutes.
    pub fn contention(&self) -> bool {
        self.sessions >= 2
    }

    /// Number of servers in the backend.
    pub fn servers(&self) -> u8 {
        if self.has(Feature::Retries) || self.has(Feature::Queue) {
            2
        } else {
            1
        }
    }

    /// The core's configuration for one listener of this model: in health
    /// mode or not, terminating TLS or not, with a TLS server or not (each
    /// TLS variant exists only when its feature is on).
    pub fn session_config(&self, health: bool, tls_front: bool, tls_back: bool) -> SessionConfig<Mutant> {
        let retries = self.has(Feature::Retries);
        SessionConfig {
            health,
            monitor: self.has(Feature::Monitor),
            conn_rules: self.has(Feature::Rules),
            accept_proxy: self.has(Feature::ProxyIn),
            src_rules: self.has(Feature::Rules) && self.has(Feature::ProxyIn),
            tls_front: tls_front && self.has(Feature::TlsFront),
            tls_back: tls_back && self.has(Feature::TlsBack),
            send_proxy: self.has(Feature::ProxyOut),
            // splice-auto needs a first chunk through the buffer: with one
            // chunk per direction, splice from the start instead.
            splice: match (self.has(Feature::Splice), self.client_chunks.max(self.server_chunks) >= 2) {
                (false, _) => SpliceMode::Never,
                (true, true) => SpliceMode::Auto,
                (true, false) => SpliceMode::Always,
            },
            balance: Default::default(),
            queue: self.has(Feature::Queue),
            retries: if retries { 2 } else { 0 },
            redispatch: retries,
            turn_around: retries,
            timeouts: Timeouts::default(),
            propagate_abort: self.has(Feature::PropagateAbort),
            mutant: self.mutant,
        }
    }
}
