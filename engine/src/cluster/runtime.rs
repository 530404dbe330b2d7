//! openraft's runtime: tokio in a normal build, madsim's simulated tasks,
//! timers and seeded randomness under `--cfg madsim`, so consensus is as
//! deterministic as the rest of the node.

#[cfg(not(madsim))]
pub type Rt = openraft::TokioRuntime;

#[cfg(madsim)]
pub use sim::Rt;

#[cfg(madsim)]
mod sim {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use openraft::async_runtime::{AsyncOneshotSendExt, AsyncRuntime};
    use openraft::{OptionalSend, TokioInstant};

    #[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
    pub struct Rt;

    pin_project_lite::pin_project! {
        /// A future raced against a simulated timer.
        pub struct SimTimeout<T> {
            #[pin] fut: T,
            #[pin] sleep: madsim::time::Sleep,
        }
    }

    impl<T: Future> Future for SimTimeout<T> {
        type Output = Result<T::Output, madsim::time::error::Elapsed>;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let this = self.project();
            if let Poll::Ready(v) = this.fut.poll(cx) {
                return Poll::Ready(Ok(v));
            }
            match this.sleep.poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(madsim::time::error::Elapsed)),
                Poll::Pending => Poll::Pending,
            }
        }
    }

    pub struct OneshotSender<T>(tokio::sync::oneshot::Sender<T>);

    impl<T> std::fmt::Debug for OneshotSender<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("OneshotSender")
        }
    }

    impl<T: OptionalSend> AsyncOneshotSendExt<T> for OneshotSender<T> {
        fn send(self, t: T) -> Result<(), T> {
            self.0.send(t)
        }
    }

    impl AsyncRuntime for Rt {
        type JoinError = madsim::task::JoinError;
        type JoinHandle<T: OptionalSend + 'static> = madsim::task::JoinHandle<T>;
        type Sleep = madsim::time::Sleep;
        // tokio's Instant reads the clock madsim simulates.
        type Instant = TokioInstant;
        type TimeoutError = madsim::time::error::Elapsed;
        type Timeout<R, T: Future<Output = R> + OptionalSend> = SimTimeout<T>;
        type ThreadLocalRng = madsim::rand::GlobalRng;
        type OneshotSender<T: OptionalSend> = OneshotSender<T>;
        type OneshotReceiverError = tokio::sync::oneshot::error::RecvError;
        type OneshotReceiver<T: OptionalSend> = tokio::sync::oneshot::Receiver<T>;

        fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
        where
            T: Future + OptionalSend + 'static,
            T::Output: OptionalSend + 'static,
        {
            madsim::task::spawn(future)
        }
        fn sleep(d: Duration) -> Self::Sleep {
            madsim::time::sleep(d)
        }
        fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
            madsim::time::sleep_until(deadline.into_std())
        }
        fn timeout<R, F: Future<Output = R> + OptionalSend>(
            d: Duration,
            fut: F,
        ) -> Self::Timeout<R, F> {
            SimTimeout {
                fut,
                sleep: madsim::time::sleep(d),
            }
        }
        fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
            deadline: Self::Instant,
            fut: F,
        ) -> Self::Timeout<R, F> {
            SimTimeout {
                fut,
                sleep: madsim::time::sleep_until(deadline.into_std()),
            }
        }
        fn is_panic(e: &Self::JoinError) -> bool {
            e.is_panic()
        }
        fn thread_rng() -> Self::ThreadLocalRng {
            madsim::rand::thread_rng()
        }
        fn oneshot<T: OptionalSend>() -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>) {
            let (tx, rx) = tokio::sync::oneshot::channel();
            (OneshotSender(tx), rx)
        }
    }
}
