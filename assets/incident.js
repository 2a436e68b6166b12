// The incident room's timeline, live: events arrive over server-sent events
// and are appended without a reload. EventSource reconnects by itself and
// sends Last-Event-ID; `after` covers the first connection.
const timeline = document.getElementById("timeline");
if (timeline && window.EventSource) {
  const incident = timeline.dataset.incident;
  const after = timeline.dataset.after || "0";
  const source = new EventSource(`/api/v1/incidents/${incident}/stream?after=${after}`);
  source.onmessage = (message) => {
    const entry = JSON.parse(message.data);
    if (timeline.querySelector(`[data-event="${entry.id}"]`)) return;
    const item = document.createElement("li");
    item.dataset.event = entry.id;
    const time = document.createElement("time");
    time.textContent = entry.at.replace("T", " ").replace(/\.\d+/, "").replace("Z", "");
    item.append(time, " ", entry.text);
    timeline.append(item);
  };
}
