//! What the executor's sends put on the wire, as the receiving kernel
//! counts it (`TCP_INFO`, read by a fixture of `sys`): the bytes are the
//! same either way, so only the segment count tells a cork from none.

use crate::runtime::{spawn_with, test_support, Options};
use crate::sys::test_support::segments_in;
use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// The segments of a connection's handshake as the accepting side counts
/// them, on this kernel: a connection of the test's own, idle.
fn handshake_segments() -> u32 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let _c = TcpStream::connect(l.local_addr().expect("address")).expect("connect");
    let (s, _) = l.accept().expect("accept");
    segments_in(&s)
}

/// A client's last bytes and its FIN, both read before the server side can
/// take them (the connect waits: the server's accept queue is full, and the
/// kernel sends the SYN again a second later), go out to the server in one
/// segment: the send is corked (`MSG_MORE`) because the core knows the FIN
/// follows, and the shutdown pushes them out together.
#[test]
fn a_last_chunk_and_the_fin_after_it_reach_the_server_in_one_segment() {
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    listener.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).expect("bind");
    listener.listen(0).expect("listen");
    let server_addr = listener.local_addr().expect("address").as_socket().expect("inet");
    let filler = TcpStream::connect(server_addr).expect("the filler fills the accept queue");
    let proxy = spawn_with(&test_support::config(&[server_addr]), Options::default()).expect("the proxy starts");
    let mut client = TcpStream::connect(proxy.addrs()[0]).expect("a client");
    client.write_all(&[7u8; 40]).expect("send");
    client.shutdown(Shutdown::Write).expect("FIN");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while proxy.stats().connects == 0 {
        assert!(std::time::Instant::now() < deadline, "no connect");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The proxy reads the bytes and the FIN while its connect waits for the
    // SYN the kernel sends again, a second after the first.
    drop(filler);
    listener.accept().expect("the filler leaves the queue");
    let (server, _) = listener.accept().expect("the proxy's connection, after the SYN sent again");
    let mut server = TcpStream::from(server);
    server.set_read_timeout(Some(Duration::from_secs(30))).expect("read timeout");
    let mut got = Vec::new();
    server.read_to_end(&mut got).expect("the bytes and the FIN");
    assert_eq!(got, [7u8; 40]);
    assert_eq!(segments_in(&server) - handshake_segments(), 1, "the bytes and the FIN in one segment");
    let mut rest = Vec::new();
    drop(server);
    client.read_to_end(&mut rest).expect("the client's end");
    proxy.stop().expect("stop");
}
