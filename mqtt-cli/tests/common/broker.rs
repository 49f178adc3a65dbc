//! The in-process reference broker (`mqtt_testkit::Broker`) for the tools' tests.

use std::thread;

use mqtt_testkit::{Broker, BrokerBuilder, Faults};

use super::TIMEOUT;

/// The reference broker, served by a current-thread runtime on its own thread.
pub struct TestBroker {
    broker: Option<Broker>,
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl TestBroker {
    pub fn start(builder: BrokerBuilder) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            tx.send(rt.handle().clone()).unwrap();
            rt.block_on(async {
                let _ = stopped.await;
            });
        });
        let handle = rx.recv_timeout(TIMEOUT).unwrap();
        let broker = handle.block_on(builder.start()).expect("start the broker");
        Self {
            broker: Some(broker),
            handle,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn broker(&self) -> &Broker {
        self.broker.as_ref().unwrap()
    }

    pub fn port(&self) -> String {
        self.broker().local_addr().port().to_string()
    }

    pub fn faults(&self) -> Faults {
        self.broker().faults()
    }

    pub fn retained(&self, topic: &str) -> Option<Vec<u8>> {
        self.broker().retained(topic).map(|b| b.to_vec())
    }

    pub fn tls_port(&self) -> String {
        self.broker().tls_addr().unwrap().port().to_string()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(b) = self.broker.take() {
            let _ = self
                .handle
                .block_on(async { tokio::time::timeout(TIMEOUT, b.shutdown()).await });
        }
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
