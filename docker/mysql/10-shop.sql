-- Sample schema for the docker-compose demo (runs once, in database `shop`, created by
-- MYSQL_DATABASE, when the volume is first created).
CREATE TABLE customers (
  id         INT AUTO_INCREMENT PRIMARY KEY,
  email      VARCHAR(255) NOT NULL UNIQUE,
  name       VARCHAR(255) NOT NULL,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
);

CREATE TABLE orders (
  id          INT AUTO_INCREMENT PRIMARY KEY,
  customer_id INT NOT NULL,
  status      VARCHAR(20) NOT NULL DEFAULT 'new',
  total       DECIMAL(10, 2) NOT NULL,
  updated_at  TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
);

INSERT INTO customers (email, name) VALUES
  ('ada@example.com', 'Ada'), ('grace@example.com', 'Grace'), ('edsger@example.com', 'Edsger'),
  ('barbara@example.com', 'Barbara'), ('donald@example.com', 'Donald');

INSERT INTO orders (customer_id, total) VALUES
  (1, 12.50), (2, 99.00), (3, 7.25), (4, 150.00), (5, 42.00), (1, 18.75);
