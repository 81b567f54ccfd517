// One Socket.IO connection for the page (signed in by the session cookie). Rooms joined
// are joined again after a reconnect, and whoever needs to catch up is told (`onReconnect`).
import { io } from "../vendor/socket.io.esm.min.js";
import { $, toast } from "./dom.js";

let socket = null;
const rooms = new Set();
const reconnectHandlers = new Set();

export function connect() {
  socket = io({ transports: ["websocket"], reconnectionDelayMax: 5000 });
  socket.on("connect", () => {
    $("#offline").hidden = true;
    for (const room of rooms) socket.emit("join", { room });
    // A catch-up that fails (the hub went again) is said, not thrown into the page.
    for (const handler of reconnectHandlers) {
      Promise.resolve().then(handler).catch((error) => toast(error.message));
    }
  });
  socket.on("disconnect", () => { $("#offline").hidden = false; });
  socket.on("connect_error", () => { $("#offline").hidden = false; });
  return socket;
}

export function on(event, handler) {
  socket.on(event, handler);
  return () => socket.off(event, handler);
}

export function onReconnect(handler) {
  reconnectHandlers.add(handler);
  return () => reconnectHandlers.delete(handler);
}

export function join(room) {
  rooms.add(room);
  if (socket.connected) socket.emit("join", { room });
}

// Joined, once the hub says so (at most `waitMs`): what is published in the room after
// this resolves reaches the page (a reply started right after a plain `join` could be
// emitted before the hub had the page in the room).
export async function joined(room, waitMs = 2000) {
  rooms.add(room);
  if (!socket?.connected) return;
  await socket.timeout(waitMs).emitWithAck("join", { room }).catch(() => {});
}

export function leave(room) {
  rooms.delete(room);
  if (socket.connected) socket.emit("leave", { room });
}

export function emit(event, data) {
  if (socket?.connected) socket.emit(event, data);
}
