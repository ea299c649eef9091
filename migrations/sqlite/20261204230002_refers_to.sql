-- A message that names another reporter's complaint (a reply in its thread, its
-- tracking number) is filed as a complaint of its own; this names the other one, so
-- the admins see the two side by side.
ALTER TABLE complaints ADD COLUMN refers_to INTEGER REFERENCES complaints (id);
