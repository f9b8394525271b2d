//! A pool of reusable workers (ONNX Runtime sessions and scratch buffers), lent out one at a time.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, PoisonError};

use crate::Result;

/// Idle workers. [`Pool::take`] lends one (making a new one when none is idle) as a [`Lease`], which puts it
/// back when it is dropped, on every path out of the borrower, errors included.
#[derive(Debug)]
pub(crate) struct Pool<T> {
    idle: Mutex<Vec<T>>,
}

impl<T> Pool<T> {
    /// A pool holding `idle`.
    pub(crate) fn new(idle: Vec<T>) -> Self {
        Pool { idle: Mutex::new(idle) }
    }

    /// An idle worker, or a new one from `make` when none is idle.
    pub(crate) fn take(&self, make: impl FnOnce() -> Result<T>) -> Result<Lease<'_, T>> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let worker = match idle {
            Some(w) => w,
            None => make()?,
        };
        Ok(Lease { pool: self, worker: Some(worker) })
    }

    /// Adds a worker to the idle ones.
    pub(crate) fn put(&self, worker: T) {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(worker);
    }

    /// `f` of the idle workers.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub(crate) fn with_idle<R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
        f(&self.idle.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A worker borrowed from a [`Pool`]; it goes back to the pool when the lease is dropped. A lease dropped while
/// its thread panics drops the worker instead, since its buffers may be half-written.
#[derive(Debug)]
pub(crate) struct Lease<'a, T> {
    pool: &'a Pool<T>,
    /// `Some` from [`Pool::take`] until `drop`.
    worker: Option<T>,
}

// `worker` is `Some` for the lease's whole life (only `drop` takes it out), so these `expect`s cannot fire.
#[allow(clippy::expect_used)]
impl<T> Deref for Lease<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.worker.as_ref().expect("a lease holds its worker until it is dropped")
    }
}

#[allow(clippy::expect_used)]
impl<T> DerefMut for Lease<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.worker.as_mut().expect("a lease holds its worker until it is dropped")
    }
}

impl<T> Drop for Lease<'_, T> {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take()
            && !std::thread::panicking()
        {
            self.pool.put(worker);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_goes_back_on_every_path_and_not_after_a_panic() {
        let pool = Pool::new(vec![1]);
        let made = std::cell::Cell::new(0);
        let make = || {
            made.set(made.get() + 1);
            Ok(10 + made.get())
        };
        {
            let a = pool.take(make).unwrap();
            let b = pool.take(make).unwrap();
            assert_eq!((*a, *b), (1, 11));
        }
        // Both back (the last dropped is the next lent).
        assert_eq!(pool.with_idle(|w| w.to_vec()), [11, 1]);
        let failing = || -> Result<()> {
            let mut w = pool.take(make)?;
            *w += 100;
            Err(crate::Error::InvalidParameter { name: "x", message: "fails".into() })
        };
        assert!(failing().is_err());
        assert_eq!(pool.with_idle(|w| w.to_vec()), [11, 101], "returned after an error");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _w = pool.take(make).unwrap();
            panic!("mid-frame");
        }));
        assert!(r.is_err());
        assert_eq!(pool.with_idle(|w| w.to_vec()), [11], "dropped after a panic");
        assert_eq!(made.get(), 1);
    }
}
