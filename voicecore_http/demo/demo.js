// The demo client: sign in with a bearer token, start a session through LiveKit's
// TokenSource.endpoint, join with the microphone, watch the session's status, rejoin
// after a reload, end the session. Only the token and the room name are kept, in
// sessionStorage, so a reload of this tab comes back to the same session.
import { DisconnectReason, Room, RoomEvent, TokenSource, version } from './livekit-client.esm.mjs';

const params = new URLSearchParams(location.search);
// ?api=https://voicecore.example.com calls another origin (it must allow this one: CORS_ALLOW_ORIGINS).
const API = `${params.get('api') || ''}/api/v1/voice-sessions`;
const STATUS_EVERY_MS = 1000;
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
  const response = await fetch(`${API}${path}`, { method, headers: authorization() });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(`${method} ${path || '/'}: ${response.status} ${body.detail || ''}`.trim());
    error.status = response.status;
    throw error;
  }
  return body;
}

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
  renderUser();
}

async function signOut() {
  await leave();
  sessionStorage.removeItem(KEYS.token);
  sessionStorage.removeItem(KEYS.room);
  renderUser();
}

// --- the session -----------------------------------------------------------------

async function start() {
  const agentType = $('agent-type').value;
  const source = TokenSource.endpoint(
    `${API}/connection-details?agent_type=${encodeURIComponent(agentType)}`,
    { headers: authorization() },
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
    if (error.status === 404) forgetRoom(); // ended, or closed while nobody was in it
    throw error;
  }
}

async function join(serverUrl, token, roomName, via) {
  await leave();
  sessionStorage.setItem(KEYS.room, roomName);
  show('room-name', roomName);
  show('joined-via', via);
  show('disconnect-reason', '');
  const joining = new Room();
  room = joining;
  joining
    .on(RoomEvent.ConnectionStateChanged, (state) => show('connection-state', state))
    .on(RoomEvent.ParticipantConnected, renderRemote)
    .on(RoomEvent.ParticipantDisconnected, renderRemote)
    .on(RoomEvent.Disconnected, (reason) => disconnected(joining, reason));
  const options = $('server-ice').checked ? {} : { rtcConfig: { iceServers: [] } };
  renderButtons();
  await joining.connect(serverUrl, token, options);
  await joining.localParticipant.setMicrophoneEnabled(true);
  show('microphone', joining.localParticipant.isMicrophoneEnabled ? 'on' : 'off');
  renderRemote();
  watchStatus(roomName);
}

async function end() {
  const roomName = sessionStorage.getItem(KEYS.room);
  if (!roomName) return;
  await callApi('DELETE', `/${encodeURIComponent(roomName)}`);
  forgetRoom();
  // The server disconnects everyone in a deleted room; the Disconnected event follows.
}

function disconnected(which, reason) {
  if (which !== room) return; // an earlier connection this page replaced
  show('connection-state', 'disconnected');
  show('disconnect-reason', DisconnectReason[reason] ?? String(reason));
  show('microphone', 'off');
  if (reason === DisconnectReason.ROOM_DELETED) forgetRoom();
  room = null;
  renderRemote();
  renderButtons();
}

async function leave() {
  const leaving = room;
  room = null;
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

// --- status from the API -----------------------------------------------------------

function watchStatus(roomName) {
  clearInterval(statusTimer);
  const poll = async () => {
    try {
      const status = await callApi('GET', `/${encodeURIComponent(roomName)}`);
      show('participant-count', String(status.participant_count));
      showFlag('agent-connected', status.agent_connected);
    } catch (error) {
      if (error.status === 404) forgetRoom();
      else fail(error);
    }
  };
  poll();
  statusTimer = setInterval(poll, STATUS_EVERY_MS);
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
show('sdk-version', version);

// make serve links here with #token=...: the fragment never reaches a server log.
if (location.hash.startsWith('#token=')) {
  guarded(() => signIn(decodeURIComponent(location.hash.slice('#token='.length))))();
  history.replaceState(null, '', location.pathname + location.search);
}
renderButtons();
const kept = sessionStorage.getItem(KEYS.room);
if (bearer() && kept) guarded(() => rejoin(kept))();
