<?php
// A PHP page run through php-cgi: a form (GET and POST), an upload, and a
// session counter kept by PHP's own sessions (the PHPSESSID cookie).
session_start();
$_SESSION['visits'] = ($_SESSION['visits'] ?? 0) + 1;
$name = $_POST['name'] ?? $_GET['name'] ?? '';
function h($s) { return htmlspecialchars($s, ENT_QUOTES, 'UTF-8'); }
?><!DOCTYPE html>
<html><head><meta charset="utf-8"><title>PHP on Stepwise</title>
<link rel="stylesheet" href="/style.css"></head>
<body>
<h1>PHP through php-cgi</h1>
<p>Visits in this session: <strong id="visits"><?= $_SESSION['visits'] ?></strong>
(session <?= h(session_id()) ?>)</p>
<?php if ($name !== ''): ?>
<p>Hello, <strong id="name"><?= h($name) ?></strong>!</p>
<?php endif; ?>
<?php if (!empty($_FILES['upload']) && $_FILES['upload']['error'] === UPLOAD_ERR_OK): ?>
<p>Received <strong id="upload"><?= h($_FILES['upload']['name']) ?></strong>,
<?= (int) $_FILES['upload']['size'] ?> bytes, md5 <?= md5_file($_FILES['upload']['tmp_name']) ?>.</p>
<?php endif; ?>
<form method="post"><label>Name <input name="name"></label> <button>Send (POST)</button></form>
<form method="get"><label>Name <input name="name"></label> <button>Send (GET)</button></form>
<form method="post" enctype="multipart/form-data">
<input type="file" name="upload"> <button>Upload</button></form>
<p>Request: <?= h($_SERVER['REQUEST_METHOD']) ?> <?= h($_SERVER['REQUEST_URI']) ?>,
PHP <?= PHP_VERSION ?>, <?= h($_SERVER['SERVER_SOFTWARE']) ?></p>
</body></html>
