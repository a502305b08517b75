//! The diagrams `connseq diagram` draws: explored over the same space as the
//! checker, with the note's key transitions present and no stream-interface
//! move outside the note's table.

use connseq_model::check::diagram::{coverage_configs, Diagrams, Machine, ACCEPT};
use connseq_model::check::{check, CheckOptions, Feature, ModelConfig, Preset, SysState, System};
use connseq_model::core::{ConnState, FdState, OpStatus, SiState, Side};
use std::collections::HashSet;

fn small() -> Diagrams {
    Diagrams::explore(ModelConfig::preset(Preset::Small))
}

#[test]
fn small_preset_diagram_explores_the_same_states_as_the_checker() {
    let cfg = ModelConfig::preset(Preset::Small);
    let report = check(cfg, CheckOptions { threads: 2, ..CheckOptions::default() }, &mut |_| {});
    let d = Diagrams::explore(cfg);
    assert_eq!(d.states, report.unique_states);
    assert!(d.transitions >= d.states as u64);
}

#[test]
fn small_preset_diagram_has_the_notes_key_stream_interface_moves() {
    let d = small();
    for (side, from, to) in [
        (Side::Front, SiState::Ini, SiState::Est),
        (Side::Front, SiState::Est, SiState::Dis),
        (Side::Front, SiState::Dis, SiState::Clo),
        (Side::Back, SiState::Ini, SiState::Req),
        (Side::Back, SiState::Req, SiState::Ass),
        (Side::Back, SiState::Ass, SiState::Con),
        (Side::Back, SiState::Con, SiState::Est),
        (Side::Back, SiState::Con, SiState::Cer),
        (Side::Back, SiState::Est, SiState::Dis),
        (Side::Back, SiState::Dis, SiState::Clo),
    ] {
        assert!(d.has_si(side, from, to), "{side} {from} -> {to} not reached: {:?}", d.si.keys());
    }
}

#[test]
fn every_stream_interface_edge_is_in_the_notes_table() {
    let d = small();
    assert!(!d.si.is_empty());
    for (&(side, from, to), info) in &d.si {
        assert!(from.may_move_to(to), "{side} {from} -> {to} is not a transition of the note");
        assert!(info.count > 0 && !info.causes.is_empty());
    }
}

#[test]
fn small_preset_diagram_has_the_connection_and_fd_lifecycles() {
    let d = small();
    assert!(d.has_conn(Side::Back, ConnState::Closed, ConnState::Connecting));
    assert!(d.has_conn(Side::Back, ConnState::Connecting, ConnState::Established));
    assert!(d.has_fd(Side::Front, FdState::Closed, FdState::Ready));
    assert!(d.has_fd(Side::Back, FdState::Ready, FdState::Closed));
    // What accept() did is drawn, and caused by the accept alone.
    let front = d.conn.iter().find(|(k, _)| k.0 == Side::Front && k.1 == ConnState::Closed);
    assert!(front.is_some_and(|(_, info)| info.causes.iter().all(|&c| c == ACCEPT)));
}

#[test]
fn operation_statuses_only_move_forward_along_the_notes_two_bits() {
    let d = small();
    assert!(d.has_op(OpStatus::NotDesired, OpStatus::Desired), "00 -> 10");
    assert!(d.has_op(OpStatus::Desired, OpStatus::Done), "10 -> 01");
    for &(side, op, from, to) in d.ops.keys() {
        assert!(from.rank() < to.rank(), "{side} {op} {from} -> {to} moves backwards");
    }
}

#[test]
fn a_postponed_close_notify_shows_the_started_status() {
    // With TLS towards the client, a close_notify that does not fit is
    // retried: its status stays 11 until it is sent.
    let d = Diagrams::explore(ModelConfig::preset(Preset::Small).with(Feature::TlsFront));
    assert!(d.has_op(OpStatus::Desired, OpStatus::Started), "10 -> 11");
    assert!(d.has_op(OpStatus::Started, OpStatus::Done), "11 -> 01");
    assert!(d.has_conn(Side::Front, ConnState::Accepted, ConnState::Established));
}

#[test]
fn the_documentations_configurations_reach_queueing_retries_and_handshakes() {
    let d = Diagrams::explore_all(&coverage_configs(), &mut |_| {});
    for (from, to) in [
        (SiState::Req, SiState::Que),
        (SiState::Que, SiState::Ass),
        (SiState::Cer, SiState::Tar),
        (SiState::Tar, SiState::Ass),
        (SiState::Cer, SiState::Req),
    ] {
        assert!(d.has_si(Side::Back, from, to), "back {from} -> {to}");
    }
    assert!(d.has_conn(Side::Front, ConnState::Closed, ConnState::Established), "accept() with no handler");
    assert!(d.has_conn(Side::Front, ConnState::Accepted, ConnState::Established), "handlers done");
    assert!(d.has_op(OpStatus::Desired, OpStatus::Started), "10 -> 11");
    for &(side, from, to) in d.si.keys() {
        assert!(from.may_move_to(to), "{side} {from} -> {to}");
    }
    assert_eq!(d.configs.len(), coverage_configs().len());
}

#[test]
fn every_machine_renders_as_a_digraph_with_the_notes_names() {
    let d = small();
    for m in Machine::ALL {
        let dot = d.to_dot(m);
        assert!(dot.contains(&format!("digraph \"{}\" {{", m.name())), "{m}");
        assert_eq!(dot.matches('{').count(), dot.matches('}').count(), "{m}: unbalanced braces");
        let edges = dot.lines().filter(|l| l.trim_start().starts_with('"') && l.contains("\" -> \"")).count();
        assert_eq!(edges, d.edge_count(m), "{m}: one edge statement per edge");
        assert!(edges > 0, "{m}");
    }
    assert!(d.to_dot(Machine::Si).contains("label=\"CON\""));
    assert!(d.to_dot(Machine::Connection).contains("label=\"CONNECTING\""));
    assert!(d.to_dot(Machine::Fd).contains("label=\"READY\""));
    let ops = d.to_dot(Machine::OpStatus);
    for bits in ["00", "10", "11", "01"] {
        assert!(ops.contains(&format!("label=\"{bits}\\n")), "op status {bits}");
    }
}

#[test]
fn step_observed_reaches_the_same_state_as_step() {
    let sys = System::new(ModelConfig::preset(Preset::Small));
    let mut seen: HashSet<SysState> = HashSet::new();
    let mut stack = sys.init_states();
    let mut moves = 0;
    while let Some(s) = stack.pop() {
        if !seen.insert(s) {
            continue;
        }
        for a in sys.enabled(&s) {
            let n = sys.step(&s, a, None);
            let (m, si, cores) = sys.step_observed(&s, a);
            assert_eq!(n, m, "{a}");
            let Some(i) = a.session().map(usize::from) else { continue };
            if cores.is_empty() {
                // Nothing happened in the core (a peer that reads, say).
                assert_eq!(s.sess[i].core, n.sess[i].core, "{a}");
                stack.push(n);
                continue;
            }
            assert_eq!(cores.last(), Some(&n.sess[i].core), "{a}: the last core is the successor's");
            // The recorded moves chain up from the state before to the state after.
            for side in Side::BOTH {
                let mut at = s.sess[i].core.si(side);
                for mv in si.iter().filter(|mv| mv.side == side) {
                    assert_eq!(mv.from, at, "{a}: {side} moves do not chain");
                    at = mv.to;
                }
                assert_eq!(at, n.sess[i].core.si(side), "{a}: {side} moves do not end where the state is");
            }
            moves += si.len();
            stack.push(n);
        }
    }
    assert!(moves > 0);
}
