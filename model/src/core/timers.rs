//! The timers a session arms. The core never reads a clock: a timer is armed
//! with a deadline computed from the `now` it was given, the runtime asks for
//! [`Timers::next_deadline`] and calls back when it passes; in the model, any
//! armed timer may fire at any step.

use super::Millis;
use std::fmt;

/// The kinds of timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    /// Bounds everything before the session starts (PROXY header, rules, TLS).
    Handshake = 0,
    /// Bounds one connect attempt.
    Connect = 1,
    /// Bounds the wait in a server queue.
    Queue = 2,
    /// The delay between a failed attempt and the next one.
    TurnAround = 3,
    /// Client-side inactivity (`timeout client`).
    Client = 4,
    /// Server-side inactivity (`timeout server`).
    Server = 5,
    /// A half-closed or draining client side (`timeout client-fin`).
    ClientFin = 6,
    /// A half-closed or draining server side (`timeout server-fin`).
    ServerFin = 7,
}

impl TimerKind {
    /// Every kind.
    pub const ALL: [TimerKind; 8] = [
        TimerKind::Handshake,
        TimerKind::Connect,
        TimerKind::Queue,
        TimerKind::TurnAround,
        TimerKind::Client,
        TimerKind::Server,
        TimerKind::ClientFin,
        TimerKind::ServerFin,
    ];

    /// Short name, as in configuration keys.
    pub const fn name(self) -> &'static str {
        match self {
            TimerKind::Handshake => "handshake",
            TimerKind::Connect => "connect",
            TimerKind::Queue => "queue",
            TimerKind::TurnAround => "turn-around",
            TimerKind::Client => "client",
            TimerKind::Server => "server",
            TimerKind::ClientFin => "client-fin",
            TimerKind::ServerFin => "server-fin",
        }
    }
}

impl fmt::Display for TimerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Durations of each timer, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timeouts {
    /// `timeout handshake`.
    pub handshake: Millis,
    /// `timeout connect`.
    pub connect: Millis,
    /// `timeout queue`.
    pub queue: Millis,
    /// Turn-around delay before a retry.
    pub turn_around: Millis,
    /// `timeout client`.
    pub client: Millis,
    /// `timeout server`.
    pub server: Millis,
    /// `timeout client-fin`.
    pub client_fin: Millis,
    /// `timeout server-fin`.
    pub server_fin: Millis,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            handshake: 5_000,
            connect: 5_000,
            queue: 5_000,
            turn_around: 1_000,
            client: 30_000,
            server: 30_000,
            client_fin: 5_000,
            server_fin: 5_000,
        }
    }
}

impl Timeouts {
    /// The duration of `kind`.
    pub const fn get(&self, kind: TimerKind) -> Millis {
        match kind {
            TimerKind::Handshake => self.handshake,
            TimerKind::Connect => self.connect,
            TimerKind::Queue => self.queue,
            TimerKind::TurnAround => self.turn_around,
            TimerKind::Client => self.client,
            TimerKind::Server => self.server,
            TimerKind::ClientFin => self.client_fin,
            TimerKind::ServerFin => self.server_fin,
        }
    }
}

/// The armed timers and their deadlines.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Timers {
    armed: u8,
    deadline: [Millis; 8],
}

impl Timers {
    /// Whether `kind` is armed.
    pub const fn is_armed(&self, kind: TimerKind) -> bool {
        self.armed & (1 << kind as u8) != 0
    }

    /// Arms `kind` at `deadline` if it is not armed yet.
    pub fn arm(&mut self, kind: TimerKind, deadline: Millis) {
        if !self.is_armed(kind) {
            self.armed |= 1 << kind as u8;
            self.deadline[kind as usize] = deadline;
        }
    }

    /// Pushes an armed timer's deadline to `deadline` (activity refreshes an
    /// inactivity timer).
    pub fn refresh(&mut self, kind: TimerKind, deadline: Millis) {
        if self.is_armed(kind) {
            self.deadline[kind as usize] = deadline;
        }
    }

    /// Disarms `kind`.
    pub fn disarm(&mut self, kind: TimerKind) {
        self.armed &= !(1 << kind as u8);
        self.deadline[kind as usize] = 0;
    }

    /// The deadline of `kind`, if armed.
    pub fn deadline(&self, kind: TimerKind) -> Option<Millis> {
        self.is_armed(kind).then(|| self.deadline[kind as usize])
    }

    /// The earliest deadline among armed timers.
    pub fn next_deadline(&self) -> Option<Millis> {
        TimerKind::ALL.iter().filter_map(|&k| self.deadline(k)).min()
    }

    /// The armed kinds whose deadline is at or before `now`, earliest first.
    pub fn expired(&self, now: Millis) -> impl Iterator<Item = TimerKind> + '_ {
        let mut kinds: [Option<(Millis, TimerKind)>; 8] = [None; 8];
        for (i, &k) in TimerKind::ALL.iter().enumerate() {
            if let Some(d) = self.deadline(k) {
                if d <= now {
                    kinds[i] = Some((d, k));
                }
            }
        }
        kinds.sort();
        kinds.into_iter().flatten().map(|(_, k)| k)
    }

    /// The armed kinds, as a bitmask.
    pub const fn armed_bits(&self) -> u8 {
        self.armed
    }

    /// Whether any timer is armed.
    pub const fn any_armed(&self) -> bool {
        self.armed != 0
    }
}

impl fmt::Debug for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_set();
        for k in TimerKind::ALL {
            if self.is_armed(k) {
                l.entry(&format_args!("{}", k.name()));
            }
        }
        l.finish()
    }
}
