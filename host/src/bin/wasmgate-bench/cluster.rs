//! Several hosts on one NATS (issue 18), same run, same load:
//!
//! - `chat` and `exec` with every client on host A of a two-host cluster
//!   (`one-host`), then with the clients spread over A and B
//!   (`two-hosts`): chat user i sends to user i+1, who is on the other
//!   host, and an exec room has one member on each, so every message of
//!   the second row crosses hosts and its p50/p99 is the cross-host
//!   latency. The embedded host (no cluster) is the chat and exec
//!   scenarios' own rows.
//! - `chat/host-kill`: users spread over three hosts, host C killed
//!   (`kill -9`) halfway. Users on A send to users on B, and those
//!   messages are counted: among what a surviving host acknowledged
//!   (receipt Flag 1), `lost` must be 0. Messages to or from users on C
//!   are not counted: core NATS is at most once, so what C acknowledged in
//!   its last moment may not have left it.

use std::net::SocketAddr;
use std::time::Duration;

use wasmgate_testkit::nats::Nats;
use wasmgate_testkit::{Host, Setup};

use crate::report::Row;
use crate::stats::Stats;
use crate::{Load, backend_body, blocking, chat, exec};

fn start(
    setup: &Setup,
    nats: &Nats,
    node: &str,
    template: &str,
    component: &str,
) -> anyhow::Result<Host> {
    let path = setup
        .component(component)
        .ok_or_else(|| anyhow::anyhow!("{component} not found (scripts/build-plugins)"))?;
    let body = format!(
        "{}\n{}",
        nats.cluster_table(node, 1, 3000),
        backend_body(template, None, "wasm")
    );
    setup.start(&format!("cluster-{node}"), &body, &[(path, component)])
}

/// Each row on a NATS server of its own, so no state of one row (users
/// still online in the directory) meets the next.
pub async fn run(setup: &Setup, clients: usize, load: &Load) -> Vec<Row> {
    let mut rows = Vec::new();
    for proto in ["chat", "exec"] {
        for layout in ["one-host", "two-hosts"] {
            let scenario = format!("cluster-{proto}");
            let mut row = Row::new(&scenario, layout, clients);
            let result = match blocking(Nats::start) {
                Ok(nats) => spread(setup, &nats, proto, layout, load, &mut row).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                row = Row::skipped(&scenario, layout, format!("{e:#}"));
            }
            crate::report::print_row(&row);
            rows.push(row);
        }
    }
    let mut row = Row::new("cluster-chat", "host-kill", clients);
    let result = match blocking(Nats::start) {
        Ok(nats) => host_kill(setup, &nats, load, &mut row).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        row = Row::skipped("cluster-chat", "host-kill", format!("{e:#}"));
    }
    crate::report::print_row(&row);
    rows.push(row);
    rows
}

async fn spread(
    setup: &Setup,
    nats: &Nats,
    proto: &str,
    layout: &str,
    load: &Load,
    row: &mut Row,
) -> anyhow::Result<()> {
    let template = if proto == "chat" {
        chat::CONFIG
    } else {
        exec::CONFIG
    };
    let file = format!("{proto}.wasm");
    let a = blocking(|| start(setup, nats, &format!("{layout}-a"), template, &file))?;
    let b = blocking(|| start(setup, nats, &format!("{layout}-b"), template, &file))?;
    let hosts = if layout == "one-host" {
        vec![&a]
    } else {
        vec![&a, &b]
    };
    let addrs: Vec<SocketAddr> = hosts
        .iter()
        .map(|h| h.addr(proto))
        .collect::<anyhow::Result<_>>()?;
    let mut stats = Stats::default();
    let (s, elapsed) = if proto == "chat" {
        let users = chat::connect_all(&addrs, load.clients, &mut stats).await;
        let online = users.iter().flatten().count();
        all_online(&hosts, online).await?;
        chat::run(users, load, &|_| false).await
    } else {
        let members = [addrs[0], *addrs.last().unwrap_or(&addrs[0])];
        let mut rooms = exec::connect_all(&a, members, load.clients, &mut stats).await?;
        // Each side's copy of the directory learns the other's member a
        // moment after it joins; a relay sent before that reaches only its
        // own side. So every member first sees the other (checkDevice).
        if let Err(e) = exec::all_paired(&mut rooms).await {
            // What the hosts said is the only clue to which side lost
            // track of the room.
            anyhow::bail!(
                "{e:#}; host A log: {}; host B log: {}",
                a.log_tail(12),
                b.log_tail(12)
            );
        }
        exec::run(rooms, load).await
    };
    stats.merge(s);
    row.fill(stats, elapsed, a.mem()?);
    let sent = blocking(|| a.metrics())?.get("wasmgate_cluster_sent_total");
    row.set("sent_to_other_host", sent);
    Ok(())
}

async fn host_kill(setup: &Setup, nats: &Nats, load: &Load, row: &mut Row) -> anyhow::Result<()> {
    let mut hosts = Vec::new();
    for node in ["kill-a", "kill-b", "kill-c"] {
        hosts.push(blocking(|| {
            start(setup, nats, node, chat::CONFIG, "chat.wasm")
        })?);
    }
    let addrs: Vec<SocketAddr> = hosts
        .iter()
        .map(|h| h.addr("chat"))
        .collect::<anyhow::Result<_>>()?;
    let mut stats = Stats::default();
    let users = chat::connect_all(&addrs, load.clients, &mut stats).await;
    let online = users.iter().flatten().count();
    all_online(&hosts.iter().collect::<Vec<_>>(), online).await?;
    let mut c = hosts.pop().expect("three hosts");
    let half = load.duration / 2;
    let killer = tokio::spawn(async move {
        tokio::time::sleep(half).await;
        c.kill();
        c
    });
    // Only users on A (i % 3 == 0, sending to B) are counted.
    let (s, elapsed) = chat::run(users, load, &|i| i % 3 != 0).await;
    let _c = killer.await;
    stats.merge(s);
    row.fill(stats, elapsed, hosts[0].mem()?);
    // The survivors release C's users within seconds of the kill.
    let mut reaped = 0.0;
    for _ in 0..150 {
        reaped = blocking(|| hosts[0].metrics())?.get("wasmgate_cluster_reaped_total")
            + blocking(|| hosts[1].metrics())?.get("wasmgate_cluster_reaped_total");
        if reaped >= (load.clients / 3) as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    row.set("reaped_by_survivors", reaped);
    Ok(())
}

/// Waits until every host's copy of the directory holds `n` chat users:
/// messages sent before could find their friend missing on the sender's
/// host.
async fn all_online(hosts: &[&Host], n: usize) -> anyhow::Result<()> {
    for host in hosts {
        chat::wait_online(host, |seen| seen >= n).await?;
    }
    Ok(())
}
