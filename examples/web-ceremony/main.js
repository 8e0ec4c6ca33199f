// The page's only script, a file of its own: the Content-Security-Policy allows no inline one.
import init from "./pkg/web_ceremony.js";
init();
