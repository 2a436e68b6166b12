// The incident room's timeline, live: events arrive over server-sent events
// and are appended without a reload. EventSource reconnects by itself and
// sends Last-Event-ID; `after` covers the first connection, and a new one
// made after it gave up. When the stream stops (the session ended) or is
// being retried, the room says so above the timeline.
const timeline = document.getElementById("timeline");
if (timeline && window.EventSource) {
  const incident = timeline.dataset.incident;
  let after = timeline.dataset.after || "0";
  // staleNotice comes from live.js, loaded first.
  const notice = (text, link) => staleNotice("timeline-stale", timeline, text, link);
  const connect = () => {
    const source = new EventSource(`/api/v1/incidents/${incident}/stream?after=${after}`);
    source.onopen = () => notice(null);
    source.onerror = async () => {
      if (source.readyState !== EventSource.CLOSED) {
        notice("The timeline is not updating: reconnecting…");
        return;
      }
      // EventSource gives up on any answer but 200: ask why, and keep
      // trying unless the session ended.
      const answer = await fetch(`/api/v1/incidents/${incident}`, { credentials: "same-origin" }).catch(() => null);
      if (answer?.status === 401) {
        const back = encodeURIComponent(location.pathname);
        notice("The timeline stopped updating: your session ended.", {
          href: `/login?next=${back}`,
          text: "Log in again",
        });
        return;
      }
      notice("The timeline is not updating: trying again…");
      setTimeout(connect, 5000);
    };
    source.onmessage = (message) => {
      notice(null);
      const entry = JSON.parse(message.data);
      after = String(entry.id);
      if (timeline.querySelector(`[data-event="${entry.id}"]`)) return;
      const item = document.createElement("li");
      item.dataset.event = entry.id;
      const time = document.createElement("time");
      time.textContent = `${entry.at.replace("T", " ").replace(/\.\d+/, "").replace("Z", "")} UTC`;
      item.append(time, " ", entry.text);
      timeline.append(item);
    };
  };
  connect();
}
