-- A cache database as written by derivo 0.1.0 (schema version 1): 8 photos
-- rendered and 3 failed, derivative paths absolute under /tmp/derivo-release/out.
PRAGMA user_version = 1;
BEGIN TRANSACTION;
CREATE TABLE derivatives (
    hash        TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    spec        TEXT NOT NULL,
    path        TEXT NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    format      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (hash, fingerprint)
);
INSERT INTO "derivatives" VALUES('6e89a556c9d5adf5e7315998793e3b5049bd0ceb9ca5a5054c66917640549f42','c3cdf38ff82c','thumbnail','/tmp/derivo-release/out/6e/6e89a556c9d5adf5e7315998793e3b5049bd0ceb9ca5a5054c66917640549f42/thumbnail-c3cdf38ff82c.jpg',200,150,9719,'jpeg',1.79598260992978596686e+09);
INSERT INTO "derivatives" VALUES('6e89a556c9d5adf5e7315998793e3b5049bd0ceb9ca5a5054c66917640549f42','ffd36d122b0e','preview','/tmp/derivo-release/out/6e/6e89a556c9d5adf5e7315998793e3b5049bd0ceb9ca5a5054c66917640549f42/preview-ffd36d122b0e.jpg',600,450,92717,'jpeg',1.79598260992978596686e+09);
INSERT INTO "derivatives" VALUES('212e8a68f11fd75acd2409b74b0e3e1ac4d0d822528535222bfe6c26a4e5a12a','c3cdf38ff82c','thumbnail','/tmp/derivo-release/out/21/212e8a68f11fd75acd2409b74b0e3e1ac4d0d822528535222bfe6c26a4e5a12a/thumbnail-c3cdf38ff82c.jpg',200,150,9826,'jpeg',1.79598260999668359752e+09);
INSERT INTO "derivatives" VALUES('212e8a68f11fd75acd2409b74b0e3e1ac4d0d822528535222bfe6c26a4e5a12a','ffd36d122b0e','preview','/tmp/derivo-release/out/21/212e8a68f11fd75acd2409b74b0e3e1ac4d0d822528535222bfe6c26a4e5a12a/preview-ffd36d122b0e.jpg',600,450,91161,'jpeg',1.79598260999668359752e+09);
INSERT INTO "derivatives" VALUES('16b56f79c0358372e689f347619453c30f2a6a16d56a1e0f19563da0c8b8a494','c3cdf38ff82c','thumbnail','/tmp/derivo-release/out/16/16b56f79c0358372e689f347619453c30f2a6a16d56a1e0f19563da0c8b8a494/thumbnail-c3cdf38ff82c.jpg',200,150,9832,'jpeg',1.79598261011966848369e+09);
INSERT INTO "derivatives" VALUES('16b56f79c0358372e689f347619453c30f2a6a16d56a1e0f19563da0c8b8a494','ffd36d122b0e','preview','/tmp/derivo-release/out/16/16b56f79c0358372e689f347619453c30f2a6a16d56a1e0f19563da0c8b8a494/preview-ffd36d122b0e.jpg',600,450,91014,'jpeg',1.79598261011966848369e+09);
INSERT INTO "derivatives" VALUES('149d1fec3298ce7f176e1a53c2f7356f6d472698180ccc34d678befa62823256','c3cdf38ff82c','thumbnail','/tmp/derivo-release/out/14/149d1fec3298ce7f176e1a53c2f7356f6d472698180ccc34d678befa62823256/thumbnail-c3cdf38ff82c.jpg',200,150,9843,'jpeg',1.79598261025799942015e+09);
INSERT INTO "derivatives" VALUES('149d1fec3298ce7f176e1a53c2f7356f6d472698180ccc34d678befa62823256','ffd36d122b0e','preview','/tmp/derivo-release/out/14/149d1fec3298ce7f176e1a53c2f7356f6d472698180ccc34d678befa62823256/preview-ffd36d122b0e.jpg',600,450,91952,'jpeg',1.79598261025799942015e+09);
INSERT INTO "derivatives" VALUES('2d9bdd96789768dbe6682eca3d962672ea307d5c18219f8764fa411e4141ae77','c3cdf38ff82c','thumbnail','/tmp/derivo-release/out/2d/2d9bdd96789768dbe6682eca3d962672ea307d5c18219f8764fa411e4141ae77/thumbnail-c3cdf38ff82c.jpg',200,150,9848,'jpeg',1.79598261040444302557e+09);
INSERT INTO "derivatives" VALUES('2d9bdd96789768dbe6682eca3d962672ea307d5c18219f8764fa411e4141ae77','ffd36d122b0e','preview','/tmp/derivo-release/out/2d/2d9bdd96789768dbe6682eca3d962672ea307d5c18219f8764fa411e4141ae77/preview-ffd36d122b0e.jpg',600,450,91890,'jpeg',1.79598261040444302557e+09);
INSERT INTO "derivatives" VALUES('ec694d37bef15507e97613cf306d81c46da99726b1c2b077164abd2e67880926','c3cdf38ff82c','thumbnail','/tmp/derivo-release/out/ec/ec694d37bef15507e97613cf306d81c46da99726b1c2b077164abd2e67880926/thumbnail-c3cdf38ff82c.jpg',200,150,9828,'jpeg',1.79598261042049431798e+09);
INSERT INTO "derivatives" VALUES('ec694d37bef15507e97613cf306d81c46da99726b1c2b077164abd2e67880926','ffd36d122b0e','preview','/tmp/derivo-release/out/ec/ec694d37bef15507e97613cf306d81c46da99726b1c2b077164abd2e67880926/preview-ffd36d122b0e.jpg',600,450,91581,'jpeg',1.79598261042049431798e+09);
INSERT INTO "derivatives" VALUES('b042c3a40925319afc65679054727e93b7d73332b318db5e5adaaf3578d86b7b','c3cdf38ff82c','thumbnail','/tmp/derivo-release/out/b0/b042c3a40925319afc65679054727e93b7d73332b318db5e5adaaf3578d86b7b/thumbnail-c3cdf38ff82c.jpg',200,150,9787,'jpeg',1.79598261055192184453e+09);
INSERT INTO "derivatives" VALUES('b042c3a40925319afc65679054727e93b7d73332b318db5e5adaaf3578d86b7b','ffd36d122b0e','preview','/tmp/derivo-release/out/b0/b042c3a40925319afc65679054727e93b7d73332b318db5e5adaaf3578d86b7b/preview-ffd36d122b0e.jpg',600,450,90802,'jpeg',1.79598261055192184453e+09);
INSERT INTO "derivatives" VALUES('7a1299d36d3ae5c5282ea4a4dd8a860ebffe7e55a0d28e8708d8b3c2ec487244','c3cdf38ff82c','thumbnail','/tmp/derivo-release/out/7a/7a1299d36d3ae5c5282ea4a4dd8a860ebffe7e55a0d28e8708d8b3c2ec487244/thumbnail-c3cdf38ff82c.jpg',200,150,9860,'jpeg',1.79598261055499100686e+09);
INSERT INTO "derivatives" VALUES('7a1299d36d3ae5c5282ea4a4dd8a860ebffe7e55a0d28e8708d8b3c2ec487244','ffd36d122b0e','preview','/tmp/derivo-release/out/7a/7a1299d36d3ae5c5282ea4a4dd8a860ebffe7e55a0d28e8708d8b3c2ec487244/preview-ffd36d122b0e.jpg',600,450,91350,'jpeg',1.79598261055499100686e+09);
CREATE TABLE photos (
    id          TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    size        INTEGER,
    mtime_ns    INTEGER,
    inode       INTEGER,
    hash        TEXT,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'done', 'failed')),
    error       TEXT,
    error_kind  TEXT,
    error_key   TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    width       INTEGER,
    height      INTEGER,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
INSERT INTO "photos" VALUES('/photos/orientation/landscape_1.jpg','/photos/orientation/landscape_1.jpg',139435,1795981507332824350,5308564,'6e89a556c9d5adf5e7315998793e3b5049bd0ceb9ca5a5054c66917640549f42','done',NULL,NULL,NULL,1,600,450,1.79598260963207364084e+09,1.79598260993006968505e+09);
INSERT INTO "photos" VALUES('/photos/orientation/landscape_2.jpg','/photos/orientation/landscape_2.jpg',137359,1795981507338444473,5308565,'ec694d37bef15507e97613cf306d81c46da99726b1c2b077164abd2e67880926','done',NULL,NULL,NULL,1,600,450,1.79598260965437316895e+09,1.79598261042072677613e+09);
INSERT INTO "photos" VALUES('/photos/orientation/landscape_3.jpg','/photos/orientation/landscape_3.jpg',140965,1795981507338444473,5308566,'212e8a68f11fd75acd2409b74b0e3e1ac4d0d822528535222bfe6c26a4e5a12a','done',NULL,NULL,NULL,1,600,450,1.7959826096578726768e+09,1795982609.99692);
INSERT INTO "photos" VALUES('/photos/orientation/landscape_4.jpg','/photos/orientation/landscape_4.jpg',140588,1795981507338444473,5308567,'16b56f79c0358372e689f347619453c30f2a6a16d56a1e0f19563da0c8b8a494','done',NULL,NULL,NULL,1,600,450,1.79598260966342377666e+09,1.79598261011991143227e+09);
INSERT INTO "photos" VALUES('/photos/orientation/landscape_5.jpg','/photos/orientation/landscape_5.jpg',137611,1795981507338444473,5308568,'149d1fec3298ce7f176e1a53c2f7356f6d472698180ccc34d678befa62823256','done',NULL,NULL,NULL,1,600,450,1.79598260966942930216e+09,1.79598261025824451446e+09);
INSERT INTO "photos" VALUES('/photos/orientation/landscape_6.jpg','/photos/orientation/landscape_6.jpg',137628,1795981507338444473,5308569,'2d9bdd96789768dbe6682eca3d962672ea307d5c18219f8764fa411e4141ae77','done',NULL,NULL,NULL,1,600,450,1.79598260967465686794e+09,1.79598261040469360351e+09);
INSERT INTO "photos" VALUES('/photos/orientation/landscape_7.jpg','/photos/orientation/landscape_7.jpg',140645,1795981507338444473,5308570,'b042c3a40925319afc65679054727e93b7d73332b318db5e5adaaf3578d86b7b','done',NULL,NULL,NULL,1,600,450,1.79598260968212676048e+09,1.79598261055216503138e+09);
INSERT INTO "photos" VALUES('/photos/orientation/landscape_8.jpg','/photos/orientation/landscape_8.jpg',141286,1795981507338444473,5308571,'7a1299d36d3ae5c5282ea4a4dd8a860ebffe7e55a0d28e8708d8b3c2ec487244','done',NULL,NULL,NULL,1,600,450,1.79598260968473887443e+09,1.79598261055938243861e+09);
INSERT INTO "photos" VALUES('/photos/truncated/Pillow__truncated_jpeg.jpg','/photos/truncated/Pillow__truncated_jpeg.jpg',6698,1795981507347773386,5308617,'411f5e2ca60ec4a0822fe983f274e165c95b19511d920593770eafa53c3879e6','failed','truncated or damaged JPEG (premature end of JPEG image)','corrupt','645744f53ccde3c1cfd2fa11',1,NULL,NULL,1.7959826096914916038e+09,1.7959826105621132851e+09);
INSERT INTO "photos" VALUES('/photos/truncated/sharp__truncated.jpg','/photos/truncated/sharp__truncated.jpg',10000,1795981507348885596,5308618,'928aa84583f760378b3cfe1643c8c382b328cbf71f1cc5152f24d72076d68233','failed','truncated or damaged JPEG (premature end of JPEG image)','corrupt','ccb210810f52d3cea85a61dd',1,NULL,NULL,1.79598260969426298146e+09,1.7959826105748882294e+09);
INSERT INTO "photos" VALUES('/photos/truncated/sharp__truncated.png','/photos/truncated/sharp__truncated.png',10000,1795981507348885596,5308619,'7ea1df201b79ba6f36d03c9ba2905bc1ee86fb478eb4ab96f4d575785e5a374a','failed','truncated or damaged PNG (libpng read error)','corrupt','c28c39b3fd3aea2da9fd2487',1,NULL,NULL,1.7959826096947655678e+09,1.7959826105741930008e+09);
CREATE INDEX photos_by_hash ON photos (hash);
CREATE INDEX photos_by_status ON photos (status, id);
COMMIT;
