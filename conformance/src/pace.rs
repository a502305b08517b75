//! Real time in black-box runs: the timeouts a target declares, and how the
//! harness lets time pass ([`crate::blackbox`]).
//!
//! The model has no clock: a timer is armed or not, and `TimerFires` may
//! happen whenever the proxy sleeps. A real proxy's timers run on the wall
//! clock, with the durations it was configured with. The harness is told
//! those durations (`--timeouts client=30s,server=30s,connect=5s`, and
//! `handshake=` for a target that reads a PROXY header or terminates TLS)
//! and plays time in two ways:
//!
//! - **A pause** ([`Pace::pause`]): a peer takes its time before an action,
//!   well below every declared timeout (1 s when they are all 4 s or more).
//!   In the model no timer fires, so nothing may change: a proxy that acts
//!   during the pause (closes a half-closed connection after 0.5 s, say)
//!   departs.
//! - **A timer wait**: where a trace fires timer `k`, the harness waits the
//!   declared duration of `k` and a margin ([`Timeouts::wait`]), then
//!   compares what the peers see with what the model's timer produces. Only
//!   where every other timer the model has armed is declared longer than
//!   all the time the run has let pass by then, so that `k` is the one that
//!   fires.

use connseq_model::core::TimerKind;
use std::fmt;
use std::time::Duration;

/// The timeouts a target is configured with, as declared to the harness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Client-side inactivity (HAProxy's `timeout client`).
    pub client: Duration,
    /// Server-side inactivity (`timeout server`).
    pub server: Duration,
    /// One connect attempt (`timeout connect`).
    pub connect: Duration,
    /// A half-closed client side (`timeout client-fin`; HAProxy's default: `timeout client`).
    pub client_fin: Duration,
    /// A half-closed server side (`timeout server-fin`; HAProxy's default: `timeout server`).
    pub server_fin: Duration,
    /// Everything before the session starts: the client's PROXY header, the
    /// TLS handshake with the client (the model's handshake timer). HAProxy
    /// 2.6 bounds its embryonic sessions by `timeout client`, the default
    /// here; nginx's are `proxy_protocol_timeout` and
    /// `ssl_handshake_timeout`, connseq's `timeout-handshake`.
    pub handshake: Duration,
}

impl Default for Timeouts {
    /// 30 s of inactivity each side, 5 s to connect, the fin timeouts as
    /// the inactivity ones (HAProxy's defaults for `client-fin` and
    /// `server-fin`), the handshake as the client's.
    fn default() -> Self {
        let idle = Duration::from_secs(30);
        Timeouts {
            client: idle,
            server: idle,
            connect: Duration::from_secs(5),
            client_fin: idle,
            server_fin: idle,
            handshake: idle,
        }
    }
}

/// The keys of `--timeouts`, in display order.
const KEYS: [&str; 6] = ["client", "server", "connect", "client-fin", "server-fin", "handshake"];

impl Timeouts {
    /// Parses `client=30s,server=30s,connect=5s[,client-fin=..][,server-fin=..][,handshake=..]`
    /// (durations in `ms`, `s` or `m`; a key left out keeps its default, a
    /// fin timeout left out follows its side's inactivity timeout, and the
    /// handshake's follows the client's).
    pub fn parse(text: &str) -> Result<Timeouts, String> {
        let mut t = Timeouts::default();
        let (mut client_fin, mut server_fin, mut handshake) = (None, None, None);
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((key, value)) = item.split_once('=') else {
                return Err(format!("`{item}`: expected key=duration (keys: {})", KEYS.join(", ")));
            };
            let d = parse_duration(value.trim())?;
            match key.trim() {
                "client" => t.client = d,
                "server" => t.server = d,
                "connect" => t.connect = d,
                "client-fin" => client_fin = Some(d),
                "server-fin" => server_fin = Some(d),
                "handshake" => handshake = Some(d),
                other => return Err(format!("`{other}`: not a timeout (keys: {})", KEYS.join(", "))),
            }
        }
        t.client_fin = client_fin.unwrap_or(t.client);
        t.server_fin = server_fin.unwrap_or(t.server);
        t.handshake = handshake.unwrap_or(t.client);
        if t.all().contains(&Duration::ZERO) {
            return Err("a timeout of 0: the harness needs every timeout declared".into());
        }
        Ok(t)
    }

    /// Every declared duration, in [`KEYS`] order.
    fn all(&self) -> [Duration; 6] {
        [self.client, self.server, self.connect, self.client_fin, self.server_fin, self.handshake]
    }

    /// The declared duration of `kind`; `None` for the timers a black-box
    /// world never arms (queue, turn-around: one server, no maxconn).
    pub fn get(&self, kind: TimerKind) -> Option<Duration> {
        match kind {
            TimerKind::Client => Some(self.client),
            TimerKind::Server => Some(self.server),
            TimerKind::Connect => Some(self.connect),
            TimerKind::ClientFin => Some(self.client_fin),
            TimerKind::ServerFin => Some(self.server_fin),
            TimerKind::Handshake => Some(self.handshake),
            TimerKind::Queue | TimerKind::TurnAround => None,
        }
    }

    /// The shortest declared timeout.
    pub fn shortest(&self) -> Duration {
        self.all().into_iter().min().expect("six durations")
    }

    /// How long the harness waits for timer `kind` to fire: its declared
    /// duration and a margin (a tenth of it, at least 300 ms) for the
    /// target's timer wheel and a loaded machine.
    pub fn wait(&self, kind: TimerKind) -> Option<Duration> {
        let d = self.get(kind)?;
        Some(d + (d / 10).max(Duration::from_millis(300)))
    }
}

impl fmt::Display for Timeouts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in KEYS.iter().zip(self.all()).enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{k}={}", duration_text(v))?;
        }
        Ok(())
    }
}

/// `1500ms`, `30s`, `2m`: the shortest exact form.
pub fn duration_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 60_000 == 0 && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Parses `500ms`, `30s`, `2m`, or a bare number of milliseconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "ms"),
    };
    let n: u64 = digits.parse().map_err(|_| format!("`{s}`: not a duration (e.g. 500ms, 30s, 2m)"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("`{s}`: unit {unit} (use ms, s or m)")),
    }
}

/// How a campaign lets real time pass, and on how many runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    /// The target's declared timeouts.
    pub timeouts: Timeouts,
    /// A peer's pause before an action in a slow variant.
    pub pause: Duration,
    /// At most this many slow variants (one per shape of run, see
    /// [`crate::blackbox`]); 0 plays none.
    pub slow_runs: usize,
    /// At most this many runs whose trace fires a timer (the shortest waits
    /// first); 0 plays none.
    pub timer_runs: usize,
}

impl Pace {
    /// The pause for `timeouts`: a quarter of the shortest, at most 1 s.
    pub fn pause_for(timeouts: &Timeouts) -> Duration {
        (timeouts.shortest() / 4).min(Duration::from_secs(1))
    }

    /// `timeouts`, its pause, and the given bounds on slow and timer runs.
    pub fn new(timeouts: Timeouts, slow_runs: usize, timer_runs: usize) -> Pace {
        Pace { timeouts, pause: Pace::pause_for(&timeouts), slow_runs, timer_runs }
    }

    /// Pauses a run may hold: together, at most half the shortest timeout,
    /// so that no timer the model leaves unfired can fire.
    pub fn max_pauses(&self) -> usize {
        if self.pause.is_zero() {
            return 0;
        }
        let budget = self.timeouts.shortest() / 2;
        usize::try_from(budget.as_micros() / self.pause.as_micros()).unwrap_or(usize::MAX)
    }
}

impl Default for Pace {
    /// The default timeouts, no slow variant and no timer run (a campaign
    /// of the instant traces only).
    fn default() -> Self {
        Pace::new(Timeouts::default(), 0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_with_fin_timeouts_following_their_side() {
        let t = Timeouts::parse("client=2s,server=3000ms,connect=1s").expect("valid");
        assert_eq!(t.client, Duration::from_secs(2));
        assert_eq!(t.server_fin, Duration::from_secs(3));
        assert_eq!(t.handshake, Duration::from_secs(2), "the handshake follows the client");
        assert_eq!(t.to_string(), "client=2s,server=3s,connect=1s,client-fin=2s,server-fin=3s,handshake=2s");
        let h = Timeouts::parse("client=2s,handshake=700ms").expect("valid");
        assert_eq!((h.handshake, h.get(TimerKind::Handshake)), (Duration::from_millis(700), Some(h.handshake)));
        assert_eq!(h.shortest(), Duration::from_millis(700));
        assert_eq!(Timeouts::parse(&t.to_string()), Ok(t));
        assert!(Timeouts::parse("idle=3s").is_err());
        assert!(Timeouts::parse("client=3x").is_err());
        assert!(Timeouts::parse("client=0s").is_err());
    }

    #[test]
    fn the_pause_stays_well_below_every_timeout() {
        let p = Pace::new(Timeouts::default(), 1, 1);
        assert_eq!(p.pause, Duration::from_secs(1));
        assert_eq!(p.max_pauses(), 2, "5 s connect: 2.5 s of pauses at most");
        let short = Pace::new(Timeouts::parse("client=2s,server=3s,connect=2s").expect("valid"), 1, 1);
        assert_eq!(short.pause, Duration::from_millis(500));
        assert_eq!(short.max_pauses(), 2);
    }
}
