// The incident room's timeline, live: events arrive over server-sent events
// and are appended without a reload. EventSource reconnects by itself and
// sends Last-Event-ID; `after` covers the first connection. When the stream
// stops for good (the session ended: a 401 is not retried) or is being
// retried, the room says so above the timeline.
const timeline = document.getElementById("timeline");
if (timeline && window.EventSource) {
  const incident = timeline.dataset.incident;
  const after = timeline.dataset.after || "0";
  const source = new EventSource(`/api/v1/incidents/${incident}/stream?after=${after}`);
  const notice = (text, link) => {
    let element = document.getElementById("timeline-stale");
    if (!text) {
      element?.remove();
      return;
    }
    if (!element) {
      element = document.createElement("p");
      element.id = "timeline-stale";
      element.className = "flash-error";
      element.setAttribute("role", "status");
      timeline.before(element);
    }
    element.textContent = text;
    if (link) {
      const a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      element.append(" ", a);
    }
  };
  source.onopen = () => notice(null);
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      const back = encodeURIComponent(location.pathname);
      notice("The timeline stopped updating: your session may have ended.", {
        href: `/login?next=${back}`,
        text: "Log in again",
      });
    } else {
      notice("The timeline is not updating: reconnecting…");
    }
  };
  source.onmessage = (message) => {
    notice(null);
    const entry = JSON.parse(message.data);
    if (timeline.querySelector(`[data-event="${entry.id}"]`)) return;
    const item = document.createElement("li");
    item.dataset.event = entry.id;
    const time = document.createElement("time");
    time.textContent = `${entry.at.replace("T", " ").replace(/\.\d+/, "").replace("Z", "")} UTC`;
    item.append(time, " ", entry.text);
    timeline.append(item);
  };
}
