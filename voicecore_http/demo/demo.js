// The demo client: sign in with a bearer token, start a session through LiveKit's
// TokenSource.endpoint, join with the microphone, hear the agent, watch the session's status,
// rejoin after a reload, end the session, and list the recent sessions with why each ended.
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
const HISTORY_SHOWN = 5;
// The service records why a room ended once LiveKit has closed it, which may be just after the
// page hears of it: ask again a few times before saying it is unknown.
const END_REASON_TRIES = 10;
const END_REASON_EVERY_MS = 500;
const KEYS = { token: 'voicecore.demo.token', room: 'voicecore.demo.room' };

const $ = (id) => document.getElementById(id);
let room = null;
let statusTimer = null;

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
}

async function signOut() {
  await leave();
  sessionStorage.removeItem(KEYS.token);
  sessionStorage.removeItem(KEYS.room);
  $('history').replaceChildren();
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
  // force: a cached answer would be the previous session's room.
  const { serverUrl, participantToken } = await source.fetch({}, true);
  await join(serverUrl, participantToken, claimsOf(participantToken).video.room, 'TokenSource.endpoint');
}

async function rejoin(roomName) {
  try {
    const session = await callApi('POST', `/${encodeURIComponent(roomName)}/token`);
    await join(session.livekit_url, session.token, session.room_name, 'rejoin');
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
  const poll = async () => {
    try {
      renderStatus(await callApi('GET', `/${encodeURIComponent(roomName)}`));
    } catch (error) {
      if (error.status === 404) forgetRoom();
      else fail(error);
    }
  };
  poll();
  statusTimer = setInterval(poll, STATUS_EVERY_MS);
}

// Every status answer passes here: the place for whatever else a session's status carries.
function renderStatus(status) {
  show('participant-count', String(status.participant_count));
  showFlag('agent-connected', status.agent_connected);
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
  for (let tries = 0; tries < END_REASON_TRIES; tries += 1) {
    const record = await callApi('GET', `/history/${encodeURIComponent(roomName)}`);
    if (record.end_reason) {
      show('end-reason', record.end_reason + (record.end_approximate ? ' (time approximate)' : ''));
      break;
    }
    await pause(END_REASON_EVERY_MS);
  }
  await refreshHistory();
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
else refreshHistory();
