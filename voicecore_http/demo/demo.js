// The demo client: sign in with a bearer token, start a session through LiveKit's
// TokenSource.endpoint, join with the microphone, hear the agent, watch the session's status
// and count down to the moment the server ends it, rejoin after a reload, end the session, and
// list the recent sessions with why each ended. It shows the user's minutes (GET /usage) and,
// when a start is refused because none are left, when they come back.
//
// It talks to the service that served it and to the LiveKit server that service hands out,
// nothing else: the API is a path on this origin, never a URL taken from the address bar, and
// the Content-Security-Policy it is served with says the same. Only the token and the room name
// are kept, in sessionStorage, so a reload of this tab comes back to the same session.
import {
  DisconnectReason,
  Room,
  RoomEvent,
  Track,
  TokenSource,
  version,
} from './vendor/livekit-client-2.23.0.esm.mjs';

const API = '/api/v1/voice-sessions';
// Never follow a redirect with the bearer header, wherever it points.
const REQUEST = { redirect: 'error', credentials: 'omit' };
const STATUS_EVERY_MS = 1000;
// The countdown is redrawn more often than it changes, so it never lags a whole second.
const COUNTDOWN_EVERY_MS = 250;
const HISTORY_SHOWN = 5;
// The service records why a room ended once LiveKit has closed it, which may be just after the
// page hears of it: ask again a few times, each pause twice the last (0.5 s, 1 s, 2 s, 4 s),
// before saying it is not recorded yet.
const END_REASON_TRIES = 5;
const END_REASON_FIRST_PAUSE_MS = 500;
const KEYS = { token: 'voicecore.demo.token', room: 'voicecore.demo.room' };

const $ = (id) => document.getElementById(id);
let room = null;
let statusTimer = null;
let countdownTimer = null;
let endsAt; // the ends_at shown, as the API wrote it (null: no bound); undefined: none shown

function show(id, text) {
  $(id).textContent = text;
}

function showFlag(id, value) {
  const element = $(id);
  element.textContent = value ? 'yes' : 'no';
  element.className = value ? 'yes' : 'no';
}

function fail(error) {
  show('error', error instanceof Error ? error.message : String(error));
}

// A moment in a <time> element: machine-readable in datetime, the browser's local time as text.
function showMoment(id, iso, format = (date) => date.toLocaleString()) {
  const element = $(id);
  element.dateTime = iso ?? '';
  element.textContent = iso ? format(new Date(iso)) : '';
}

// A length of time as h:mm:ss, or m:ss under an hour.
function clock(seconds) {
  const whole = Math.max(0, Math.round(seconds));
  const [h, m, s] = [Math.floor(whole / 3600), Math.floor((whole % 3600) / 60), whole % 60];
  const two = (n) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

function claimsOf(jwt) {
  const part = jwt.split('.')[1] || '';
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '=')));
}

function bearer() {
  return sessionStorage.getItem(KEYS.token);
}

function authorization() {
  return { Authorization: `Bearer ${bearer()}` };
}

async function callApi(method, path) {
  const response = await fetch(`${API}${path}`, { ...REQUEST, method, headers: authorization() });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(`${method} ${path || '/'}: ${response.status} ${body.detail || ''}`.trim());
    error.status = response.status;
    throw error;
  }
  return body;
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- signing in ------------------------------------------------------------------

function renderUser() {
  const token = bearer();
  show('user', token ? claimsOf(token).sub : '(not signed in)');
  $('start').disabled = !token || room !== null;
}

function signIn(token) {
  const claims = claimsOf(token); // throws on anything that is not a JWT
  if (!claims.sub) throw new Error('the token has no sub (user id)');
  sessionStorage.setItem(KEYS.token, token);
  $('token').value = ''; // kept in sessionStorage only: not on screen, nor in a screenshot
  show('error', '');
  show('sign-in-notice', '');
  renderUser();
  refreshHistory();
  refreshUsage();
}

async function signOut() {
  await leave();
  forgetRoom();
  sessionStorage.removeItem(KEYS.token);
  $('history').replaceChildren();
  renderUsage(null);
  renderUser();
}

// A link that carries a token would sign this tab into whichever account the link's author
// chose, and a session started then would be theirs to join and hear: such links are refused.
// The fragment goes from the address bar and the tab's history; nothing in it is read.
function refuseSignInLink() {
  if (!new URLSearchParams(location.hash.slice(1)).has('token')) return;
  history.replaceState(null, '', location.pathname + location.search);
  show('sign-in-notice', 'This page does not sign in from a link. Paste a token below to sign in.');
}

// --- the session -----------------------------------------------------------------

async function start() {
  const agentType = $('agent-type').value;
  const source = TokenSource.endpoint(
    `${API}/connection-details?agent_type=${encodeURIComponent(agentType)}`,
    { ...REQUEST, headers: authorization() },
  );
  let details;
  try {
    // force: a cached answer would be the previous session's room.
    details = await source.fetch({}, true);
  } catch (error) {
    if (refusalStatus(error) === 402) throw await noMinutesLeft(error);
    throw error;
  }
  const { serverUrl, participantToken } = details;
  await join(serverUrl, participantToken, claimsOf(participantToken).video.room, 'TokenSource.endpoint');
}

// TokenSource.endpoint tells an answer it refused only in its error's message:
// "Error generating token from endpoint <url>: received <status> / <body>".
function refusalStatus(error) {
  const found = /: received (\d{3}) \//.exec(error instanceof Error ? error.message : '');
  return found ? Number(found[1]) : null;
}

// A 402: the user's minutes for the period are used up. Say so, and when they come back (the
// period's end, which the 402's Retry-After counts down to); the refusal itself says it too.
async function noMinutesLeft(refusal) {
  const usage = await refreshUsage();
  if (!usage || usage.limit_seconds === null) return refusal;
  const resets = new Date(usage.period_end);
  return new Error(
    `No voice minutes left this ${usage.period} (${clock(usage.used_seconds)} used of ` +
      `${clock(usage.limit_seconds)}). They come back at ${resets.toLocaleString()} ` +
      `(in ${clock((resets - Date.now()) / 1000)}).`,
  );
}

async function rejoin(roomName) {
  try {
    const session = await callApi('POST', `/${encodeURIComponent(roomName)}/token`);
    await join(session.livekit_url, session.token, session.room_name, 'rejoin');
    showEndsAt(session.ends_at);
  } catch (error) {
    if (error.status === 404) {
      forgetRoom(); // ended, or closed while nobody was in it
      await showWhyItEnded(roomName);
    }
    throw error;
  }
}

async function join(serverUrl, token, roomName, via) {
  await leave();
  sessionStorage.setItem(KEYS.room, roomName);
  show('room-name', roomName);
  show('joined-via', via);
  show('disconnect-reason', '');
  show('end-reason', '');
  const joining = new Room();
  room = joining;
  joining
    .on(RoomEvent.ConnectionStateChanged, (state) => show('connection-state', state))
    .on(RoomEvent.ParticipantConnected, renderRemote)
    .on(RoomEvent.ParticipantDisconnected, renderRemote)
    .on(RoomEvent.TrackSubscribed, (track, _publication, participant) => play(track, participant))
    .on(RoomEvent.TrackUnsubscribed, (track) => stopPlaying(track))
    .on(RoomEvent.AudioPlaybackStatusChanged, () => renderAudio(joining))
    .on(RoomEvent.Disconnected, (reason) => disconnected(joining, roomName, reason));
  const options = $('server-ice').checked ? {} : { rtcConfig: { iceServers: [] } };
  renderButtons();
  await joining.connect(serverUrl, token, options);
  await joining.localParticipant.setMicrophoneEnabled(true);
  show('microphone', joining.localParticipant.isMicrophoneEnabled ? 'on' : 'off');
  renderRemote();
  watchStatus(roomName);
  refreshHistory();
  refreshUsage();
}

async function end() {
  const roomName = sessionStorage.getItem(KEYS.room);
  if (!roomName) return;
  await callApi('DELETE', `/${encodeURIComponent(roomName)}`);
  forgetRoom();
  // The server disconnects everyone in a deleted room; the Disconnected event follows.
  await showWhyItEnded(roomName);
}

function disconnected(which, roomName, reason) {
  if (which !== room) return; // an earlier connection this page replaced
  show('connection-state', 'disconnected');
  show('disconnect-reason', DisconnectReason[reason] ?? String(reason));
  show('microphone', 'off');
  room = null;
  $('audio-out').replaceChildren();
  renderAudio(null);
  renderRemote();
  if (reason === DisconnectReason.ROOM_DELETED) {
    // Ended here (End), by the service (a cut) or by LiveKit: the record says which.
    forgetRoom();
    guarded(() => showWhyItEnded(roomName))();
  }
  renderButtons();
}

async function leave() {
  const leaving = room;
  room = null;
  $('audio-out').replaceChildren();
  renderAudio(null);
  if (leaving) await leaving.disconnect();
}

function forgetRoom() {
  sessionStorage.removeItem(KEYS.room);
  clearInterval(statusTimer);
  statusTimer = null;
  stopCountdown();
  show('participant-count', '');
  show('agent-connected', '');
  $('agent-connected').className = '';
  renderButtons();
}

function renderButtons() {
  $('end').disabled = !sessionStorage.getItem(KEYS.room);
  renderUser();
}

function renderRemote() {
  const others = room ? [...room.remoteParticipants.values()] : [];
  show('remote-participants', others.map((p) => `${p.identity}${p.isAgent ? ' (agent)' : ''}`).join(', '));
}

// --- the agent's audio -------------------------------------------------------------

// Each remote audio track plays through an <audio> element of its own. The browser may refuse
// to play sound before the user has interacted with the page (a reload, for one): then the
// "Play the agent's audio" button asks for the click that lets it.
function play(track, participant) {
  if (track.kind !== Track.Kind.Audio) return;
  const element = track.attach();
  element.dataset.participant = participant.identity;
  $('audio-out').append(element);
  renderAudio(room);
}

function stopPlaying(track) {
  for (const element of track.detach()) element.remove();
  renderAudio(room);
}

function renderAudio(current) {
  const playing = $('audio-out').querySelectorAll('audio').length > 0;
  const blocked = current !== null && !current.canPlaybackAudio;
  $('play-audio').hidden = !blocked;
  show('agent-audio', !playing ? '' : blocked ? 'blocked by the browser' : 'playing');
}

async function playAudio() {
  if (room) await room.startAudio();
  renderAudio(room);
}

// --- status and history from the API -----------------------------------------------

function watchStatus(roomName) {
  clearInterval(statusTimer);
  // An answer that arrives after the page moved on to another room (or none) is dropped.
  const current = () => sessionStorage.getItem(KEYS.room) === roomName;
  const poll = async () => {
    try {
      const status = await callApi('GET', `/${encodeURIComponent(roomName)}`);
      if (current()) renderStatus(status);
    } catch (error) {
      if (!current()) return;
      if (error.status === 404) {
        // Gone: ended, cut by the service or closed by LiveKit; the disconnect may not be here yet.
        forgetRoom();
        guarded(() => showWhyItEnded(roomName))();
      } else fail(error);
    }
  };
  poll();
  statusTimer = setInterval(poll, STATUS_EVERY_MS);
}

// Every status answer passes here: the place for whatever else a session's status carries.
function renderStatus(status) {
  show('participant-count', String(status.participant_count));
  showFlag('agent-connected', status.agent_connected);
  showEndsAt(status.ends_at);
}

// --- bounds: when the session ends, the user's minutes -----------------------------

// ends_at is the latest moment the session can run (the length cap, or the user's minutes
// running out); null: no bound. It can move sooner (another session of the user's started), so
// every status answer sets it again; the countdown runs from the browser's clock.
function showEndsAt(iso) {
  if (iso === endsAt) return;
  stopCountdown();
  endsAt = iso;
  showMoment('ends-at', iso, (date) => date.toLocaleTimeString());
  if (iso === null) {
    show('ends-in', 'no limit');
    return;
  }
  const tick = () => show('ends-in', clock(Math.ceil((new Date(iso) - Date.now()) / 1000)));
  tick();
  countdownTimer = setInterval(tick, COUNTDOWN_EVERY_MS);
}

function stopCountdown() {
  clearInterval(countdownTimer);
  countdownTimer = null;
  endsAt = undefined;
  show('ends-in', '');
  showMoment('ends-at', null);
}

// The caller's minutes in this period. Runs beside whatever the user does: it reports its own
// failure, and answers the usage it showed (or null).
async function refreshUsage() {
  if (!bearer()) return null;
  try {
    const usage = await callApi('GET', '/usage');
    renderUsage(usage);
    return usage;
  } catch (error) {
    fail(error);
    return null;
  }
}

function renderUsage(usage) {
  show('usage-used', usage ? clock(usage.used_seconds) : '');
  show(
    'usage-allowance',
    !usage
      ? ''
      : usage.limit_seconds === null
        ? 'none'
        : `${clock(usage.limit_seconds)} a ${usage.period}, ${clock(usage.remaining_seconds)} left`,
  );
  showMoment('usage-resets', usage ? usage.period_end : null);
  show(
    'usage-live',
    !usage
      ? ''
      : usage.max_live_sessions === null
        ? String(usage.live_sessions)
        : `${usage.live_sessions} of ${usage.max_live_sessions}`,
  );
}

// Why a session that is gone ended, from its record; then the list, which now shows it ended.
// End and the disconnect that follows both ask: once per room is enough.
let whyItEnded = { roomName: null, reading: null };

function showWhyItEnded(roomName) {
  if (whyItEnded.roomName !== roomName) {
    whyItEnded = { roomName, reading: readWhyItEnded(roomName) };
  }
  return whyItEnded.reading;
}

async function readWhyItEnded(roomName) {
  let waited = END_REASON_FIRST_PAUSE_MS;
  for (let tries = 1; ; tries += 1) {
    const record = await callApi('GET', `/history/${encodeURIComponent(roomName)}`);
    if (record.end_reason) {
      show('end-reason', record.end_reason + (record.end_approximate ? ' (time approximate)' : ''));
      break;
    }
    if (tries === END_REASON_TRIES) {
      show('end-reason', 'not recorded yet (see recent sessions later)');
      break;
    }
    await pause(waited);
    waited *= 2;
  }
  await Promise.all([refreshHistory(), refreshUsage()]);
}

// The caller's newest sessions. Runs beside whatever the user does: it reports its own failure.
async function refreshHistory() {
  if (!bearer()) return;
  try {
    const { sessions } = await callApi('GET', `/history?limit=${HISTORY_SHOWN}`);
    $('history').replaceChildren(...sessions.map(historyRow));
  } catch (error) {
    fail(error);
  }
}

function historyRow(session) {
  const row = document.createElement('tr');
  row.dataset.testid = 'history-row';
  row.dataset.room = session.room_name;
  row.dataset.endReason = session.end_reason ?? '';
  const ended = session.active ? 'live' : session.end_reason ?? '';
  const cells = [
    new Date(session.created_at).toLocaleString(),
    session.agent_type,
    session.room_name,
    session.duration_seconds === null ? '' : String(Math.round(session.duration_seconds)),
    ended + (session.end_approximate ? ' (time approximate)' : ''),
  ];
  for (const text of cells) {
    const cell = document.createElement('td');
    cell.textContent = text;
    row.append(cell);
  }
  return row;
}

// --- wiring ----------------------------------------------------------------------

function guarded(action) {
  return async () => {
    show('error', '');
    try {
      await action();
    } catch (error) {
      fail(error);
    }
  };
}

$('sign-in').addEventListener('click', guarded(() => signIn($('token').value.trim())));
$('sign-out').addEventListener('click', guarded(signOut));
$('start').addEventListener('click', guarded(start));
$('end').addEventListener('click', guarded(end));
$('play-audio').addEventListener('click', guarded(playAudio));
show('sdk-version', version);

refuseSignInLink();
renderButtons();
const kept = sessionStorage.getItem(KEYS.room);
if (bearer() && kept) guarded(() => rejoin(kept))();
else {
  refreshHistory();
  refreshUsage();
}
