use seqflow_shm::{ProducerMode, ShmOptions, ShmRing, WaitKind};
use std::time::{Duration, Instant};
fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(50_000_000);
    let batch = 100usize;
    let name = format!("/zz-burst-{}", std::process::id());
    let ring = ShmRing::<u64>::create(
        &name,
        4096,
        ShmOptions {
            producer: ProducerMode::Single,
            wait: if std::env::var_os("ZZY").is_some() {
                WaitKind::Yielding
            } else {
                WaitKind::BusySpin
            },
            ..Default::default()
        },
    )
    .unwrap();
    let _g = ring.unlink_on_drop();
    let mut c = ring.consumer("c").unwrap();
    let r2 = ring.clone();
    let start = Instant::now();
    let prod = std::thread::spawn(move || {
        let mut p = r2.producer().unwrap();
        let mut i = 0u64;
        while i < n {
            p.publish_batch_timeout(batch, Duration::from_secs(30), |e, _| {
                *e = i;
                i += 1;
            })
            .unwrap();
        }
    });
    let (mut count, mut sum) = (0u64, 0u64);
    while count < n {
        c.poll_batch(Some(Duration::from_secs(30)), |e, _, _| {
            count += 1;
            sum = sum.wrapping_add(*e);
        })
        .unwrap();
    }
    let el = start.elapsed();
    prod.join().unwrap();
    println!(
        "{} events {:?} {:.1} M/s sum {}",
        n,
        el,
        n as f64 / el.as_secs_f64() / 1e6,
        sum
    );
}
