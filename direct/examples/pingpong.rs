//! Round trips through the direct protocol between two threads of one process (a quick look
//! at the protocol's own cost; `qnet bench` measures real processes through the library).
//! `cargo run --release -p qnet-direct --example pingpong [calls]`

use std::io::IoSliceMut;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use qnet_direct::client::{ClientPair, Outcome, Send};
use qnet_direct::layout::{self, Kind, PairState};
use qnet_direct::segment;
use qnet_direct::server::{Served, Taken};
use qnet_direct::views::{Bells, Pair, PairInfo, Table};

fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let (table_fd, tmap) =
        segment::create(c"t", Kind::Table, layout::TABLE_LEN, layout::TABLE_LEN).unwrap();
    let (bells_fd, _) =
        segment::create(c"b", Kind::Bells, layout::BELLS_LEN, layout::BELLS_LEN).unwrap();
    let table = Table::new(tmap);
    table.channel(1).unwrap().set_live(0);
    let (pfd, control) =
        segment::create(c"p", Kind::Pair, layout::PAIR_LEN, layout::PAIR_CONTROL_LEN).unwrap();
    Pair::new(control).set_identity(0, 1);
    table.pair(0).unwrap().fill(&PairInfo {
        generation: 1,
        state: PairState::Live,
        chid: 1,
        pid: 1,
        uid: 0,
        gid: 0,
        scoid: 1,
        pulse_limit: 16,
    });
    table
        .channel(1)
        .unwrap()
        .pairs_seq()
        .fetch_add(1, Ordering::Release);
    let open = |fd, kind, len| segment::open(fd, kind, len, true).unwrap();
    let mut served = Served::new(
        Table::new(open(&table_fd, Kind::Table, layout::TABLE_LEN)),
        Bells::new(open(&bells_fd, Kind::Bells, layout::BELLS_LEN)),
    );
    served.add_channel(1);
    assert_eq!(served.new_pairs(1), vec![0]);
    assert!(served.attach(0, Pair::new(open(&pfd, Kind::Pair, layout::PAIR_LEN))));
    let cp = ClientPair::new(
        Pair::new(open(&pfd, Kind::Pair, layout::PAIR_LEN)),
        Arc::new(Table::new(open(&table_fd, Kind::Table, layout::TABLE_LEN))),
        Arc::new(Bells::new(open(&bells_fd, Kind::Bells, layout::BELLS_LEN))),
        0,
        1,
        1,
    );
    let server = std::thread::spawn(move || {
        let (t, b) = (served.table(), served.bells());
        for _ in 0..calls {
            loop {
                served.drain(1, false);
                if let Some(Taken::Message(m)) = served.take(1) {
                    let mut buf = [0u8; 64];
                    served.read(m.rcvid, 0, &mut buf).unwrap();
                    served.reply(m.rcvid, 0, &[&buf]).unwrap();
                    break;
                }
                Served::sleep(
                    &t,
                    &b,
                    1,
                    1,
                    false,
                    Some(Duration::from_millis(100)),
                    qnet_direct::signals::count(),
                    || served.has_work(1),
                );
            }
        }
    });
    let mut times = Vec::with_capacity(calls);
    let slot = cp.take_slot().unwrap();
    let msg = [7u8; 64];
    let mut reply = [0u8; 64];
    for _ in 0..calls {
        let t0 = Instant::now();
        let mut r = [IoSliceMut::new(&mut reply)];
        let s = Send {
            tid: 1,
            priority: 10,
            coid: 1,
            parts: &[&msg],
            reply_cap: 64,
            realtime: false,
        };
        assert_eq!(
            cp.send(slot, &s, &mut r, None, &|| None),
            Outcome::Replied(0)
        );
        times.push(t0.elapsed());
    }
    server.join().unwrap();
    times.sort();
    println!(
        "{calls} calls, 64 B: p50 {:?} p99 {:?}",
        times[calls / 2],
        times[calls * 99 / 100]
    );
}
