// Runs a task now and then again every few milliseconds once it ends: never two at
// once, and not while nobody looks at the page. The task handles its own errors.

export function every(ms, task) {
  let on = false;
  let timer = null;
  let running = false;
  let again = false;

  async function run() {
    if (!on) return;
    if (document.hidden) { // nobody is looking: no load on the projector until someone is
      clearTimeout(timer);
      timer = setTimeout(run, ms);
      return;
    }
    if (running) {
      again = true; // asked for while one runs: run once more right after it
      return;
    }
    running = true;
    again = false;
    clearTimeout(timer);
    try {
      await task();
    } finally {
      running = false;
      if (on) timer = setTimeout(run, again ? 0 : ms);
    }
  }

  return {
    start() { on = true; run(); },
    stop() { on = false; clearTimeout(timer); },
    now: run, // does nothing while stopped
  };
}
