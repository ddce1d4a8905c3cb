/** A worker module that fails while loading: the pool must reject its jobs, not wait for ever. */
throw new Error('imgkit browser test: this worker module fails on purpose');
