// Keeps the elements marked data-live="SECONDS" fresh without a page
// reload: fetches the same page, one request at a time, and swaps in each
// element with the same id. A page whose data stopped coming says so, for
// a wall screen left showing yesterday's alerts as live is worse than none.

// Shows (or, without `text`, removes) the notice `id` just before
// `anchor`: why what is shown may be old, with a link to mend it when
// there is one. The incident room's stream uses it too.
function staleNotice(id, anchor, text, link) {
  let element = document.getElementById(id);
  if (!text) {
    element?.remove();
    return;
  }
  if (!element) {
    element = document.createElement("p");
    element.id = id;
    element.className = "flash-error";
    element.setAttribute("role", "status");
    anchor.before(element);
  }
  element.textContent = text;
  if (link) {
    const a = document.createElement("a");
    a.href = link.href;
    a.textContent = link.text;
    element.append(" ", a);
  }
}

const live = [...document.querySelectorAll("[data-live][id]")];
if (live.length > 0) {
  const every = Math.min(...live.map((e) => (Number(e.dataset.live) || 5) * 1000));
  let stopped = false;
  let timer;
  // When updates last stopped coming, kept until they come again.
  let failingSince = null;
  const since = () => (failingSince ??= new Date()).toLocaleTimeString();
  const notice = (text, link) => staleNotice("live-stale", live[0], text, link);

  // Someone choosing in a form of a live element keeps their choice: that
  // element waits for the next round.
  const busy = (element) => {
    const focused = document.activeElement;
    return focused && element.contains(focused) && focused.matches("input, select, textarea");
  };

  let inFlight = false;
  const refresh = async () => {
    if (inFlight) return;
    inFlight = true;
    try {
      const response = await fetch(location.href, { credentials: "same-origin" });
      if (response.redirected && new URL(response.url).pathname === "/login") {
        stopped = true;
        const back = encodeURIComponent(location.pathname + location.search);
        notice("Your session ended, so this page no longer updates.", {
          href: `/login?next=${back}`,
          text: "Log in again",
        });
        return;
      }
      if (!response.ok) {
        notice(`Not updating since ${since()}: the server answered ${response.status}. Trying again…`);
        return;
      }
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const { id } of live) {
        const fresh = page.getElementById(id);
        const current = document.getElementById(id);
        if (!fresh || !current || busy(current) || fresh.innerHTML === current.innerHTML) continue;
        // What someone opened to read stays open.
        for (const open of current.querySelectorAll("details[data-key][open]")) {
          fresh.querySelector(`details[data-key="${CSS.escape(open.dataset.key)}"]`)?.setAttribute("open", "");
        }
        current.replaceWith(fresh);
      }
      failingSince = null;
      notice(null);
    } catch (_) {
      notice(`Not updating since ${since()}: the server cannot be reached. Trying again…`);
    } finally {
      inFlight = false;
    }
  };

  // One request at a time: the next round is timed from the end of this one.
  const schedule = () => {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(async () => {
      if (!document.hidden) await refresh();
      schedule();
    }, every);
  };
  document.addEventListener("visibilitychange", async () => {
    if (document.hidden || stopped) return;
    clearTimeout(timer);
    await refresh();
    schedule();
  });
  schedule();
}
