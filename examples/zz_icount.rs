// scratch: instructions per publish (not committed)
use seqflow::prelude::*;
fn main() {
    let n: u64 = std::env::args().nth(1).unwrap().parse().unwrap();
    let kind = std::env::args().nth(2).unwrap_or_default();
    if kind == "multi" {
        let b = Disruptor::builder(1024, || 0u64)
            .multi_producer(MultiProducerMode::Cas)
            .unwrap();
        let (d, mut p) = b.start().unwrap();
        for i in 0..n {
            p.publish(|e, _| *e = i).unwrap();
        }
        std::hint::black_box(&p);
        d.halt().unwrap();
    } else {
        let b = Disruptor::builder(1024, || 0u64).single_producer().unwrap();
        let (d, mut p) = b.start().unwrap();
        for i in 0..n {
            p.publish(|e, _| *e = i).unwrap();
        }
        std::hint::black_box(&p);
        d.halt().unwrap();
    }
}
