//! `show stat`: the figures as HAProxy 2.6's CSV, so that a script written
//! for HAProxy's stats socket reads them unchanged: the same header, the
//! same columns in the same order, one row per frontend, server and
//! backend, in HAProxy's row order (a listener's row, then its backend's
//! servers and the backend). A column connseq has no figure for is empty,
//! as HAProxy leaves a column that does not apply.

use crate::runtime::control::{ServerStats, Snapshot, Topology};
use connseq_model::core::health::Status;
use std::collections::HashMap;

/// HAProxy 2.6's `show stat` header, without the leading `# `.
const COLUMNS: &str = "pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,\
status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,\
rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,\
req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,\
ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,\
agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,\
connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,\
safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,\
ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,\
h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,\
h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,\
h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,\
h1_spliced_bytes_out";

/// HAProxy's `type` column and the bit of `show stat IID TYPE SID`'s mask.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RowType {
    Frontend = 0,
    Backend = 1,
    Server = 2,
}

/// `show stat [IID TYPE SID]`'s filter: a proxy id (-1: all), a mask of
/// row types (1 frontends, 2 backends, 4 servers; -1: all), a server id
/// (-1: all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Filter {
    pub(crate) iid: i64,
    pub(crate) types: i64,
    pub(crate) sid: i64,
}

impl Default for Filter {
    fn default() -> Self {
        Filter { iid: -1, types: -1, sid: -1 }
    }
}

impl Filter {
    fn keeps(&self, iid: usize, ty: RowType, sid: usize) -> bool {
        let id = |want: i64, got: usize| want == -1 || usize::try_from(want).is_ok_and(|w| w == got);
        id(self.iid, iid) && (self.types == -1 || self.types & (1 << ty as i64) != 0) && id(self.sid, sid)
    }
}

/// One CSV row being filled.
struct Row(HashMap<&'static str, String>);

impl Row {
    fn new(pxname: &str, svname: &str, ty: RowType, iid: usize, sid: usize) -> Row {
        let mut r = Row(HashMap::new());
        r.set("pxname", pxname).set("svname", svname).set("type", ty as u8).set("pid", 1);
        r.set("iid", iid).set("sid", sid).set("mode", "tcp");
        r
    }

    fn set(&mut self, col: &'static str, v: impl ToString) -> &mut Row {
        self.0.insert(col, v.to_string());
        self
    }

    fn write(&self, out: &mut String) {
        for col in COLUMNS.split(',') {
            if let Some(v) = self.0.get(col) {
                out.push_str(v);
            }
            out.push(',');
        }
        out.push('\n');
    }
}

/// The status HAProxy 2.6 shows for a server: `no check` for a ready
/// server without checks, else UP, DOWN, DRAIN or MAINT.
fn server_status(s: &ServerStats) -> &'static str {
    match (s.status, s.check) {
        (Status::Up, None) => "no check",
        (st, _) => st.name(),
    }
}

fn server_row(r: &mut Row, s: &ServerStats) {
    r.set("qcur", 0).set("scur", s.current).set("stot", s.sessions).set("lbtot", s.sessions);
    r.set("bin", s.to_server).set("bout", s.to_client).set("econ", s.connect_failures);
    r.set("wretr", s.retries).set("wredis", s.redispatches).set("cli_abrt", s.client_aborts);
    r.set("srv_abrt", s.server_aborts).set("qtime", s.queue.mean_ms()).set("ctime", s.connect.mean_ms());
    r.set("ttime", s.total.mean_ms()).set("eresp", 0);
    if let Some(c) = s.check {
        r.set("chkfail", c.failures).set("chkdown", c.downs).set("check_rise", c.rise).set("check_fall", c.fall);
        r.set("check_health", c.health);
        if let Some(last) = c.last {
            r.set("check_status", last);
        }
    }
}

/// The CSV of `show stat`, header first, each line ending with `,` as
/// HAProxy's do.
pub(crate) fn render(top: &Topology, snap: &Snapshot, filter: Filter) -> String {
    let mut out = format!("# {COLUMNS},\n");
    let maxconn = |m: u32| if m == 0 { top.maxconn } else { m };
    let backend_iid = |b: usize| top.listeners.len() + b + 1;
    let mut shown = vec![false; top.backends.len()];
    for (li, (l, ls)) in top.listeners.iter().zip(&snap.listeners).enumerate() {
        if filter.keeps(li + 1, RowType::Frontend, 0) {
            let mut r = Row::new(&l.name, "FRONTEND", RowType::Frontend, li + 1, 0);
            r.set("scur", ls.current).set("slim", maxconn(l.maxconn)).set("stot", ls.accepted);
            r.set("bin", ls.to_server).set("bout", ls.to_client).set("dreq", 0).set("dcon", ls.denied);
            r.set("ereq", ls.errors).set("status", if snap.stopping { "STOP" } else { "OPEN" });
            r.set("conn_tot", ls.accepted).set("req_tot", ls.accepted);
            r.write(&mut out);
        }
        // Each backend once, after the first listener that uses it.
        let b = l.backend;
        if shown.get(b).copied().unwrap_or(true) {
            continue;
        }
        shown[b] = true;
        let (Some(bi), Some(bs)) = (top.backends.get(b), snap.backends.get(b)) else { continue };
        let iid = backend_iid(b);
        for (si, (s, ss)) in bi.servers.iter().zip(&bs.servers).enumerate() {
            if !filter.keeps(iid, RowType::Server, si + 1) {
                continue;
            }
            let mut r = Row::new(&bi.name, &s.name, RowType::Server, iid, si + 1);
            server_row(&mut r, ss);
            r.set("status", server_status(ss)).set("weight", 1).set("uweight", 1);
            r.set("act", u8::from(!s.backup)).set("bck", u8::from(s.backup));
            if s.maxconn != 0 {
                r.set("slim", s.maxconn);
            }
            r.set("addr", s.addr);
            r.write(&mut out);
        }
        if filter.keeps(iid, RowType::Backend, 0) {
            // HAProxy's `act` and `bck`: the active and the backup servers UP; its weight, that
            // of the servers in service: the active ones UP, or else the first backup UP.
            let up = |backup: bool| {
                bi.servers
                    .iter()
                    .zip(&bs.servers)
                    .filter(|(s, ss)| s.backup == backup && ss.status == Status::Up)
                    .count()
            };
            let (act, bck) = (up(false), up(true));
            let ready = if act > 0 { act } else { bck.min(1) };
            let sum = |f: fn(&ServerStats) -> u64| bs.servers.iter().map(f).sum::<u64>();
            let mut r = Row::new(&bi.name, "BACKEND", RowType::Backend, iid, 0);
            r.set("qcur", bs.queued).set("scur", sum(|s| s.current)).set("stot", sum(|s| s.sessions));
            r.set("lbtot", sum(|s| s.sessions)).set("bin", sum(|s| s.to_server)).set("bout", sum(|s| s.to_client));
            r.set("econ", sum(|s| s.connect_failures)).set("wretr", sum(|s| s.retries));
            r.set("wredis", sum(|s| s.redispatches)).set("cli_abrt", sum(|s| s.client_aborts));
            r.set("srv_abrt", sum(|s| s.server_aborts)).set("eresp", 0).set("dreq", 0);
            r.set("status", if ready > 0 { "UP" } else { "DOWN" }).set("weight", ready).set("uweight", ready);
            r.set("act", act).set("bck", bck).set("algo", bi.balance);
            let mean = |f: fn(&ServerStats) -> (u64, u64)| {
                let (sum, n) = bs.servers.iter().map(f).fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
                sum.checked_div(n).unwrap_or(0)
            };
            r.set("qtime", mean(|s| (s.queue.sum_ms, s.queue.count)));
            r.set("ctime", mean(|s| (s.connect.sum_ms, s.connect.count)));
            r.set("ttime", mean(|s| (s.total.sum_ms, s.total.count)));
            r.write(&mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_haproxy_2_6s_and_every_row_has_one_cell_per_column() {
        assert_eq!(COLUMNS.split(',').count(), 128);
        assert!(COLUMNS.starts_with("pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,"));
        let mut row = Row::new("fe", "FRONTEND", RowType::Frontend, 1, 0);
        row.set("status", "OPEN");
        let mut out = String::new();
        row.write(&mut out);
        assert_eq!(out.matches(',').count(), 128);
        assert!(out.starts_with("fe,FRONTEND,"));
    }

    #[test]
    fn a_filter_keeps_its_proxy_its_row_types_and_its_server() {
        let servers_only = Filter { iid: -1, types: 4, sid: -1 };
        assert!(servers_only.keeps(3, RowType::Server, 2));
        assert!(!servers_only.keeps(3, RowType::Backend, 0) && !servers_only.keeps(1, RowType::Frontend, 0));
        let one = Filter { iid: 3, types: -1, sid: 2 };
        assert!(
            one.keeps(3, RowType::Server, 2) && !one.keeps(3, RowType::Server, 1) && !one.keeps(2, RowType::Server, 2)
        );
    }
}
