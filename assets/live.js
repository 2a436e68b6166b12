// Keeps elements marked data-live="SECONDS" fresh without a page reload:
// fetches the same page and swaps in the element with the same id.
// Server-sent events replace this polling when live timelines arrive.
for (const element of document.querySelectorAll("[data-live][id]")) {
  const id = element.id;
  const every = (Number(element.dataset.live) || 5) * 1000;
  setInterval(async () => {
    if (document.hidden) return;
    try {
      const response = await fetch(location.href, { credentials: "same-origin" });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById(id);
      const current = document.getElementById(id);
      if (fresh && current && fresh.innerHTML !== current.innerHTML) current.replaceWith(fresh);
    } catch (_) {
      // Offline for a moment: the next round tries again.
    }
  }, every);
}
