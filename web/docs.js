// Fixes to what Redoc renders, for screen readers (and axe, in ui-tests), reapplied whenever
// Redoc (re)renders:
// - its side menu is a plain <div class="menu-content">: named as the navigation it is, so that
//   it is a landmark to jump to;
// - an operation's heading is an <h2> followed by <h4> "Request"/"Responses" and <h5> "Path"
//   (it uses no <h3>): announced one level up, so that no level is skipped.
const LEVELS = { H4: "3", H5: "4" };

const mend = () => {
  for (const menu of document.querySelectorAll(".menu-content:not([role])")) {
    menu.setAttribute("role", "navigation");
    menu.setAttribute("aria-label", "API sections");
  }
  for (const heading of document.querySelectorAll("redoc h4:not([aria-level]), redoc h5:not([aria-level])")) {
    heading.setAttribute("aria-level", LEVELS[heading.tagName]);
  }
};
new MutationObserver(mend).observe(document.body, { childList: true, subtree: true });
mend();
