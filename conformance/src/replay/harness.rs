//! The real side of a replay: the proxy runtime in-process, stepped, the
//! client and server sockets (TLS through rustls where the model says so),
//! the ghost sessions that hold the model's busy servers, the peers' reads,
//! and the proxy's turns.

use super::config::{ghost_listener, proxy_config, GHOST, HEADER_SOURCE};
use super::observe::{projection, ReadObs};
use super::{CHUNK, TURN_LOST};
use crate::server_port::ServerPort;
use crate::tls_peer::{self, Pki, TlsPeer};
use connseq::config::{ProxyTlvs, ProxyVersion, SendProxy};
use connseq::runtime::{self, Breakage, Options, RunningProxy};
use connseq_model::check::Who;
use connseq_model::core::{SessionConfig, SiState, Side};
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
const HANG_GUARD: Duration = Duration::from_secs(30);
/// The real side of a replay.
pub(super) struct Harness {
    pub(super) proxy: RunningProxy,
    addr: SocketAddr,
    pub(super) servers: Vec<ServerPort>,
    pub(super) client: Option<TcpStream>,
    client_connected: bool,
    /// The source a PROXY header sent to the server must carry.
    forwarded_source: &'static str,
    pub(super) server: Option<TcpStream>,
    /// The TLS layer of each peer ([`Who`] order) once it speaks TLS.
    pub(super) tls: [Option<TlsPeer>; 2],
    /// The server speaks TLS (its layer starts when it accepts).
    pub(super) tls_back: bool,
    /// The client speaks TLS (after its PROXY header, if any).
    tls_front: bool,
    pub(super) pki: Option<&'static Pki>,
    pub(super) sent: [u8; 2],
    pub(super) clock: u64,
    /// The model's other sessions (`Backend::ghosts`), real ones: for each
    /// server, the client and server sockets of a session of the ghost
    /// listener that holds its slot, while it does.
    ghosts: Vec<Option<(TcpStream, TcpStream)>>,
    /// Connections the proxy had accepted before the replayed client
    /// connected (the ghosts).
    accepted_before: u64,
}

impl Harness {
    pub(super) fn start(
        cfg: &SessionConfig,
        env: &connseq_model::check::system::Env,
        busy: [bool; 2],
        servers: usize,
        (buffer, pipe): (usize, usize),
        breakage: Breakage,
    ) -> io::Result<Harness> {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let servers: Vec<ServerPort> = (0..servers).map(|_| ServerPort::bind(any)).collect::<io::Result<_>>()?;
        let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
        let options = Options {
            manual_clock: true,
            record_sessions: true,
            stepped: true,
            hold_connects: true,
            send_window: Some(CHUNK),
            breakage,
        };
        let pki = if cfg.tls_front || cfg.tls_back { Some(Pki::get()?) } else { None };
        let mut config = proxy_config(cfg, env, &addrs, pki);
        if cfg.send_proxy {
            config.listeners[0].backend.send_proxy =
                Some(SendProxy { version: ProxyVersion::V1, tlvs: ProxyTlvs::default() });
        }
        config.global.buffer_size = buffer;
        config.global.pipe_size = Some(pipe);
        let ghosts = busy.iter().take(servers.len()).any(|&b| b);
        if ghosts {
            let g = ghost_listener(&config.listeners[0]);
            config.listeners.push(g);
        }
        let proxy = runtime::spawn_with(&config, options)?;
        let addr = proxy.addrs()[0];
        let mut h = Harness {
            proxy,
            addr,
            servers,
            client: None,
            client_connected: false,
            forwarded_source: if cfg.accept_proxy { HEADER_SOURCE } else { "127.0.0.1" },
            server: None,
            tls: [None, None],
            tls_back: cfg.tls_back,
            tls_front: cfg.tls_front,
            pki,
            sent: [0; 2],
            clock: 0,
            ghosts: Vec::new(),
            accepted_before: 0,
        };
        if ghosts {
            h.start_ghosts(busy)?;
        }
        Ok(h)
    }

    /// The model's other sessions, as real sessions through the ghost
    /// listener, each holding the slot of a server the initial state says
    /// is busy. One ghost connects per server, in server order, so that the
    /// balancer's cursor comes back where the model's starts; then the
    /// ghosts of the servers that are free end.
    fn start_ghosts(&mut self, busy: [bool; 2]) -> io::Result<()> {
        let entry = self.proxy.addrs()[1];
        for i in 0..self.servers.len() {
            let client = TcpStream::connect(entry)?;
            client.set_nonblocking(true)?;
            // Accepted, a server picked, its connect held; then released.
            self.run_proxy()?;
            self.proxy.release_connects();
            self.run_proxy()?;
            let deadline = Instant::now() + HANG_GUARD;
            let server = loop {
                if let Some(s) = self.servers[i].try_accept() {
                    break s;
                }
                if Instant::now() > deadline {
                    return Err(io::Error::other(format!("ghost {i} never reached server {i}")));
                }
                std::thread::yield_now();
            };
            self.ghosts.push(Some((client, server)));
        }
        for i in (0..self.servers.len()).filter(|&i| !busy[i]) {
            self.end_ghost(i)?;
        }
        self.run_proxy()?;
        let live = self.proxy.cores_on(1);
        let want = busy.iter().take(self.servers.len()).filter(|&&b| b).count();
        if live.len() != want || live.iter().any(|c| c.si(Side::Back) != SiState::Est) {
            return Err(io::Error::other(format!(
                "{} ghost sessions established where the model has {want}",
                live.iter().filter(|c| c.si(Side::Back) == SiState::Est).count()
            )));
        }
        // The ghosts' own log lines are not the replayed session's.
        let _ = self.proxy.take_records();
        self.accepted_before = self.proxy.stats().accepted;
        Ok(())
    }

    /// The ghost on server `i` ends (its client aborts): at its next turn
    /// the proxy closes that session and releases the slot through the
    /// core's `backend::release`, which hands it to the oldest waiter. This
    /// is the model's "a slot frees". False if no ghost holds that slot.
    pub(super) fn end_ghost(&mut self, i: usize) -> io::Result<bool> {
        let Some((client, server)) = self.ghosts.get_mut(i).and_then(Option::take) else { return Ok(false) };
        socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO))?;
        drop(client);
        drop(server);
        Ok(true)
    }

    /// The replayed session's log records since the last call (the ghosts'
    /// are left out).
    pub(super) fn take_records(&self) -> Vec<connseq::runtime::SessionRecord> {
        self.proxy.take_records().into_iter().filter(|r| r.listener != GHOST).collect()
    }

    /// Whether the proxy accepted the replayed client yet.
    pub(super) fn accepted(&self) -> bool {
        self.proxy.stats().accepted > self.accepted_before
    }

    /// The client connects (the model's initial state: a connection accepted).
    pub(super) fn connect_client(&mut self) -> io::Result<()> {
        let c = TcpStream::connect(self.addr)?;
        c.set_nodelay(true)?;
        c.set_nonblocking(true)?;
        self.client = Some(c);
        self.client_connected = true;
        Ok(())
    }

    pub(super) fn sock(&mut self, who: Who) -> Option<&mut TcpStream> {
        match who {
            Who::Client => self.client.as_mut(),
            Who::Server => self.server.as_mut(),
        }
    }

    /// Accepts the proxy's pending connection on any server port.
    pub(super) fn accept_server(&mut self) -> io::Result<TcpStream> {
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            if let Some(s) = self.accept_pending() {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no connection from the proxy"));
            }
            std::thread::yield_now();
        }
    }

    /// Another connection already waiting on a server port, if any.
    pub(super) fn accept_pending(&mut self) -> Option<TcpStream> {
        self.servers.iter().find_map(ServerPort::try_accept)
    }

    /// Reads the PROXY header line or a reply whole (the model reads each as
    /// one chunk); anything else is what `read_one` says.
    fn read_expecting(&mut self, who: Who, expected: ReadObs) -> io::Result<ReadObs> {
        let want: Option<(&[u8], ReadObs)> = match expected {
            ReadObs::Header => Some((b"PROXY ", ReadObs::Header)),
            ReadObs::Reply => Some((b"", ReadObs::Reply)),
            _ => None,
        };
        let Some((prefix, obs)) = want else { return self.read_one(who) };
        let Some(s) = self.sock(who) else { return Ok(ReadObs::Nothing) };
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            match s.read(&mut byte) {
                Ok(0) => break,
                Ok(_) => {
                    line.push(byte[0]);
                    if byte[0] == b'\n' {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && line.is_empty() => return Ok(ReadObs::Nothing),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        break;
                    }
                    std::thread::yield_now();
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset && line.is_empty() => return Ok(ReadObs::Rst),
                Err(e) => return Err(e),
            }
        }
        let reply = matches!(&line[..], b"OK\n" | b"HTTP/1.0 200 OK\r\n");
        if line.is_empty() {
            return Ok(ReadObs::Fin);
        }
        if obs == ReadObs::Header && line.starts_with(prefix) {
            // `PROXY TCP4 SRC DST SPORT DPORT`: the source is the third
            // field; with --accept-proxy it is the one the client's header
            // gave, otherwise the client's own address.
            let text = String::from_utf8_lossy(&line);
            let source = text.split(' ').nth(2).unwrap_or("");
            return Ok(if source == self.forwarded_source { obs } else { ReadObs::HeaderWithOtherSource });
        }
        if line.starts_with(prefix) && reply {
            if obs == ReadObs::Reply && line.as_slice() == b"HTTP/1.0 200 OK\r\n" {
                // The monitor reply's empty line.
                let mut rest = [0u8; 2];
                let _ = s.read_exact(&mut rest);
            }
            return Ok(obs);
        }
        Ok(ReadObs::Data)
    }

    /// What the peer reads next: one TLS message through its TLS layer, a
    /// PROXY header or reply whole, or one chunk.
    pub(super) fn read_next(&mut self, who: Who, expected: ReadObs, answer: bool) -> io::Result<ReadObs> {
        if !matches!(expected, ReadObs::Header | ReadObs::Reply) {
            let sock = match who {
                Who::Client => self.client.as_mut(),
                Who::Server => self.server.as_mut(),
            };
            if let (Some(sock), Some(tls)) = (sock, self.tls[who as usize].as_mut()) {
                return Ok(tls.read(sock, CHUNK, answer)?.into());
            }
        }
        if who == Who::Client && self.tls_front {
            self.skip_alert()?;
        }
        self.read_expecting(who, expected)
    }

    /// A client that sent garbage to a TLS listener gets rustls's alert
    /// before the end (RFC 8446 6): the model's proxy gives up without one,
    /// so it is read through here (the observation mapping says so).
    fn skip_alert(&mut self) -> io::Result<()> {
        let Some(s) = self.client.as_mut() else { return Ok(()) };
        let mut head = [0u8; 7];
        let deadline = Instant::now() + Duration::from_millis(200);
        loop {
            match s.peek(&mut head) {
                Ok(7) => break,
                Ok(n) if n > 0 && head[0] == 21 && Instant::now() < deadline => std::thread::yield_now(),
                _ => return Ok(()),
            }
        }
        if tls_peer::is_alert_record(&head) {
            s.read_exact(&mut head)?;
        }
        Ok(())
    }

    fn read_one(&mut self, who: Who) -> io::Result<ReadObs> {
        let Some(s) = self.sock(who) else { return Ok(ReadObs::Nothing) };
        let mut buf = [0u8; CHUNK];
        let mut got = 0;
        loop {
            match s.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(ReadObs::Fin),
                Ok(0) => return Ok(ReadObs::Data),
                Ok(n) => {
                    got += n;
                    if got == CHUNK {
                        return Ok(ReadObs::Data);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && got == 0 => return Ok(ReadObs::Nothing),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(ReadObs::Rst),
                Err(e) => return Err(e),
            }
        }
    }

    /// Turns until the real core stops changing (at most a few): the model's
    /// "proxy runs" is a run to quiescence.
    pub(super) fn run_proxy(&mut self) -> io::Result<()> {
        self.run_proxy_towards([false; 2])
    }

    /// [`Harness::run_proxy`], where `closed[side]` says the model's peer
    /// on that side of the replayed session has closed. The model's kernel
    /// answers what the proxy sends such a peer with an RST at once; the
    /// real one does too on loopback, but on a loaded machine the RST may
    /// be delivered after the turn (softirq work deferred to `ksoftirqd`),
    /// and the next turn would then send into a socket the model says is
    /// reset. So while the proxy's socket towards a closed peer is still
    /// connected and holds bytes that peer's kernel has not answered
    /// (`RunningProxy::unanswered_on`), the harness waits a little and turns
    /// again (for a second at most; loopback answers in microseconds).
    pub(super) fn run_proxy_towards(&mut self, closed: [bool; 2]) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut last = None;
        let mut turns = 0;
        loop {
            if !self.proxy.turn() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, TURN_LOST));
            }
            turns += 1;
            let now: Vec<String> = self.proxy.cores().iter().map(projection).collect();
            let stable = last.as_ref() == Some(&now);
            last = Some(now);
            if !stable && turns < 4 {
                continue;
            }
            let owed = self.proxy.unanswered_on(0).first().is_some_and(|u| (0..2).any(|s| closed[s] && u[s]));
            if owed && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(200));
                turns = turns.min(2);
                continue;
            }
            return Ok(());
        }
    }
}
