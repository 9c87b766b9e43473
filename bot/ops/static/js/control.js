// Control from the page: kill, resume, strategy switch through the bot's /control endpoints.
// The token is kept in sessionStorage (this tab) unless "remember on this device" is ticked
// (localStorage); it is only ever sent as `Authorization: Bearer`, never in a URL.

import { el } from "./format.js";

const TOKEN_KEY = "mmbot.controlToken";

export function setupControl() {
  const ui = {
    unlockForm: document.getElementById("unlock-form"),
    token: document.getElementById("token"),
    remember: document.getElementById("remember"),
    controls: document.getElementById("controls"),
    kill: document.getElementById("kill"),
    resume: document.getElementById("resume"),
    profile: document.getElementById("profile"),
    profiles: document.getElementById("profiles"),
    switchBtn: document.getElementById("switch"),
    lock: document.getElementById("lock"),
    note: document.getElementById("control-note"),
  };
  let token = null;
  let killArmed = null;

  function forgetToken() {
    sessionStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(TOKEN_KEY);
    token = null;
  }

  function say(message, kind = "") {
    ui.note.textContent = message;
    ui.note.title = message; // the whole text when the line is cut
    ui.note.className = `note ${kind}`;
  }

  function showControls(unlocked) {
    ui.controls.hidden = !unlocked;
    ui.unlockForm.hidden = unlocked;
  }

  async function session(candidate) {
    const headers = candidate ? { Authorization: `Bearer ${candidate}` } : {};
    const response = await fetch("session", { headers, cache: "no-store" });
    if (response.status === 401) return null;
    if (!response.ok) throw new Error(`session: HTTP ${response.status}`);
    return response.json();
  }

  async function unlock(candidate, remember) {
    const info = await session(candidate);
    if (info === null || !info.authorized) {
      forgetToken();
      showControls(false);
      say("wrong token: controls stay locked", "error");
      return;
    }
    token = candidate;
    sessionStorage.setItem(TOKEN_KEY, candidate);
    if (remember) localStorage.setItem(TOKEN_KEY, candidate);
    ui.profiles.replaceChildren(...info.profiles.map((name) => Object.assign(el("option"), { value: name })));
    showControls(true);
    say("controls unlocked", "ok");
  }

  async function control(name, body) {
    if (!token) return;
    try {
      const response = await fetch(`../control/${name}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const result = await response.json().catch(() => ({}));
      if (response.status === 401) {
        forgetToken();
        showControls(false);
        say("token no longer accepted: locked", "error");
      } else if (!response.ok) {
        say(`${name} refused: ${result.error || response.status}`, "error");
      } else {
        say(`${name}: ${JSON.stringify(result)}`, "ok");
      }
    } catch (error) {
      say(`${name} failed: ${error}`, "error");
    }
  }

  function disarm() {
    clearTimeout(killArmed);
    killArmed = null;
    ui.kill.textContent = "Kill";
    ui.kill.classList.remove("armed");
  }

  ui.kill.addEventListener("click", () => {
    if (!killArmed) {  // the first click arms, the second (within 4 s) kills
      ui.kill.textContent = "Confirm kill";
      ui.kill.classList.add("armed");
      killArmed = setTimeout(disarm, 4000);
      return;
    }
    disarm();
    control("kill", { reason: "dashboard kill" });
  });
  ui.resume.addEventListener("click", () => control("resume", { reason: "dashboard resume" }));
  ui.switchBtn.addEventListener("click", () => {
    const name = ui.profile.value.trim();
    if (!name) {
      say("type a strategy profile name", "error");
      return;
    }
    control("strategy", { name });
  });
  ui.lock.addEventListener("click", () => {
    forgetToken();
    showControls(false);
    say("controls locked");
  });
  ui.unlockForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const candidate = ui.token.value.trim();
    ui.token.value = "";
    if (candidate) unlock(candidate, ui.remember.checked).catch((error) => say(String(error), "error"));
  });

  return async function start() {
    try {
      const info = await session(null);
      if (!info.control) {
        say("read-only: control is off (no MMBOT_HTTP__TOKEN configured)");
        return;
      }
      ui.unlockForm.hidden = false;
      say("read-only: enter the control token to kill, resume or switch strategy");
      const stored = sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY);
      if (stored) await unlock(stored, localStorage.getItem(TOKEN_KEY) !== null);
    } catch (error) {
      say(`cannot reach the bot: ${error}`, "error");
    }
  };
}
