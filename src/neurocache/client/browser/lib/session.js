// Who is signed in: set by main.js once the session is known, read by the views.
// Its own module so that the views never import main.js (which imports them).
export const session = { principal: null };
